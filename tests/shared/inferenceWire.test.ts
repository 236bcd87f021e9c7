import { describe, expect, it } from 'vitest';
import { encodeSseEvent, InferenceRequestSchema, InferenceSseParser, SSE_DONE, tokenTextLiteral } from '../../src-shared/worker/inferenceWire.js';

describe('inference wire format', () => {
  it('round-trips events through the SSE encoder and an incremental parser, across arbitrary chunking', () => {
    const wire =
      encodeSseEvent({ type: 'started', job_id: 'j1', model: 'm' }) +
      encodeSseEvent({ type: 'token', t: 'he\nllo', i: 0 }) +
      encodeSseEvent({ type: 'end', tokens_out: 1, decode_ms: 2, stop_reason: 'eos' }) +
      SSE_DONE;
    for (const size of [1, 3, 7, wire.length]) {
      const parser = new InferenceSseParser();
      const out = [];
      for (let k = 0; k < wire.length; k += size) out.push(...parser.push(wire.slice(k, k + size)));
      expect(out).toEqual([
        { type: 'started', job_id: 'j1', model: 'm' },
        { type: 'token', t: 'he\nllo', i: 0 },
        { type: 'end', tokens_out: 1, decode_ms: 2, stop_reason: 'eos' },
        'done',
      ]);
    }
  });
  it('applies defaults and rejects unknown fields', () => {
    expect(InferenceRequestSchema.parse({ prompt: 'x' })).toMatchObject({ max_tokens: 128, temperature: 0.7 });
    expect(InferenceRequestSchema.safeParse({ prompt: 'x', extra: 1 }).success).toBe(false);
  });

  it("takes a plain token's text as its JSON string literal without parsing, and declines every other shape", () => {
    const texts = ['a', '', ' the', '"', '\\', '\\"', '","i":1}', 'he\nllo\t\u0001', 'é€😀', '\ud800', '</script>', '{"t":"x","i":2}'];
    for (const [i, t] of texts.entries()) {
      const data = encodeSseEvent({ type: 'token', t, i }).split('\n')[1]!.slice('data: '.length);
      const literal = tokenTextLiteral(data);
      expect(literal, JSON.stringify(t)).toBe(JSON.stringify(t));
      expect(JSON.parse(literal!)).toBe(t);
    }
    // Logprobs, another key order, no index, a raw quote or control character, a bad escape: parsed as usual.
    const lp = [{ token: 'a', logprob: -1, bytes: [97], top_logprobs: [] }];
    for (const data of [
      JSON.stringify({ t: 'a', i: 1, lp }),
      JSON.stringify({ i: 1, t: 'a' }),
      '{"t":"a"}',
      '{"t":"a","i":}',
      '{"t":"a","i":1x}',
      '{"t":"a"b","i":1}',
      '{"t":"a\u0001b","i":1}',
      '{"t":"a\\x","i":1}',
      '{"t":"a\\u12","i":1}',
      '{"t":"a\\","i":1}',
      '{"t":"a","i":1} ',
    ]) {
      expect(tokenTextLiteral(data), data).toBeUndefined();
    }
  });
});
