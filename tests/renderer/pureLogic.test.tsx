import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../src-renderer/lib/backoff.js';
import { formatAgo, formatBytes, formatCountdown, tokensPerSecond } from '../../src-renderer/lib/format.js';
import { SseParser } from '../../src-shared/util/SseParser.js';
import { POLICY_FIELDS, policyDraft, validatePolicy } from '../../src-renderer/stores/settingsSlice.js';
import { validateModelSource } from '../../src-renderer/views/ModelsView.js';
import { parseRoute } from '../../src-renderer/components/useRoute.js';

describe('formatCountdown', () => {
  it.each([
    [0, '0s'],
    [-5_000, '0s'],
    [1, '1s'],
    [999, '1s'],
    [1_000, '1s'],
    [1_001, '2s'],
    [59_000, '59s'],
    [60_000, '1m 00s'],
    [65_000, '1m 05s'],
    [3_599_000, '59m 59s'],
    [3_600_000, '1h 00m'],
    [7_380_000, '2h 03m'],
  ])('%i ms → %s', (ms, text) => expect(formatCountdown(ms)).toBe(text));
});

describe('other formatting', () => {
  it('bytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(490 * 1024)).toBe('490 KiB');
    expect(formatBytes(8 * 2 ** 30)).toBe('8.0 GiB');
    expect(formatBytes(null)).toBe('—');
  });
  it('ago', () => {
    expect(formatAgo(null, 0)).toBe('never');
    expect(formatAgo(10_000, 10_500)).toBe('just now');
    expect(formatAgo(0, 12_000)).toBe('12s ago');
    expect(formatAgo(0, 180_000)).toBe('3m ago');
  });
  it('tokens per second', () => {
    expect(tokensPerSecond(100, 500)).toBe(200);
    expect(tokensPerSecond(0, 500)).toBeNull();
    expect(tokensPerSecond(5, 0)).toBeNull();
  });
});

describe('reconnectDelayMs', () => {
  it('doubles from the base up to the cap without jitter', () => {
    const mid = () => 0.5; // factor 1
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => reconnectDelayMs(a, mid))).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
  it('stays within ±20 % jitter', () => {
    expect(reconnectDelayMs(1, () => 0)).toBe(800);
    expect(reconnectDelayMs(1, () => 0.999999)).toBe(1200);
  });
});

describe('SseParser (src-shared)', () => {
  it('parses frames split at every byte, with CRLF, comments and multi-line data', () => {
    const wire = ': keep-alive\r\nevent: cluster\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: cluster\ndata: {"b":2}\n\nid: 7\ndata: x\n\n';
    const parser = new SseParser();
    const frames = [...wire].flatMap((ch) => parser.push(ch));
    expect(frames).toEqual([
      { event: 'cluster', data: '{"a":\n1}', id: null },
      { event: 'cluster', data: '{"b":2}', id: null },
      { event: 'message', data: 'x', id: '7' },
    ]);
  });
  it('reports comments (heartbeats) without a message, and keeps partial frames for later', () => {
    const comments: string[] = [];
    const parser = new SseParser((text) => comments.push(text));
    expect(parser.push(':ping\n\n')).toEqual([]);
    expect(comments).toEqual(['ping']);
    expect(parser.push('event: cluster\ndata: {}')).toEqual([]);
    expect(parser.push('\n\n')).toEqual([{ event: 'cluster', data: '{}', id: null }]);
  });
});

describe('restart policy validation', () => {
  const good = {
    backoff_base_ms: 1000,
    backoff_max_ms: 60_000,
    jitter_ratio: 0.2,
    max_restarts: 3,
    stability_window_ms: 300_000,
    breaker_failures: 5,
    breaker_window_ms: 300_000,
    breaker_cooldown_ms: 60_000,
    load_timeout_ms: 120_000,
    health_period_ms: 2000,
    health_failures: 3,
  };
  it('accepts the defaults and round-trips them', () => {
    expect(validatePolicy(policyDraft(good))).toEqual({ ok: true, value: good });
  });
  it('names each bad field', () => {
    const draft = { ...policyDraft(good), jitter_ratio: '1.5', max_restarts: '2.5', breaker_failures: '', backoff_max_ms: '500' };
    const result = validatePolicy(draft);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    // One policy schema (src-shared): jitter ≤ 0.9, so a delay never shrinks to 0 ms.
    expect(result.errors.jitter_ratio).toMatch(/between 0 and 0\.9/);
    expect(result.errors.max_restarts).toMatch(/whole number/);
    expect(result.errors.breaker_failures).toMatch(/must be a number/);
    expect(result.errors.backoff_max_ms).toMatch(/at least the backoff base/);
    expect(Object.keys(result.errors)).toHaveLength(4);
  });
  it('covers every field of RestartPolicySettings', () => {
    expect(Object.keys(POLICY_FIELDS).sort()).toEqual(Object.keys(good).sort());
  });
});

describe('small validators', () => {
  it('model sources', () => {
    expect(validateModelSource('hf:user/repo/model.gguf')).toBeNull();
    expect(validateModelSource('hf:user/repo:Q4_K_M')).toBeNull();
    expect(validateModelSource('https://example.com/m.gguf')).toBeNull();
    expect(validateModelSource('')).toMatch(/Enter/);
    expect(validateModelSource('ftp://x/y')).toMatch(/Only http/);
    expect(validateModelSource('hf:nope')).toMatch(/hf:<user>/);
    expect(validateModelSource('not a url')).toMatch(/Not a valid/);
  });
  it('routes', () => {
    expect(parseRoute('#/workers')).toBe('workers');
    expect(parseRoute('#/quick')).toBe('quick');
    expect(parseRoute('#quick')).toBe('quick');
    expect(parseRoute('')).toBe('cluster');
    expect(parseRoute('#/nope')).toBe('cluster');
  });
});
