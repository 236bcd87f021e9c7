import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordingAuditSink, type RecordingAuditSink } from '../helpers/recordingAuditSink.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createHive, type Hive } from '../../src-main/hive/createHive.js';
import type { AuditEvent } from '../../src-shared/audit/AuditEvent.js';
import { sendRequest } from '../helpers/httpRequest.js';

/** Policy rejections on a real hive over real HTTP become `request_rejected`, coalesced (docs/audit.md). */
const TOKEN = 'request-rejected-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
let dir: string;
let hive: Hive;
let audit: RecordingAuditSink;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rbee-rejected-'));
  audit = createRecordingAuditSink();
  hive = await createHive({ modelsDir: join(dir, 'models'), port: 0, token: TOKEN, gpu: false, standbyWorkers: 0, watchModels: false, audit, logger: createLogger('test', { level: 'silent' }) });
}, 60_000);

afterAll(async () => {
  await hive?.close();
  rmSync(dir, { recursive: true, force: true });
});

const rejected = (reason: string): AuditEvent[] => audit.events.filter((e) => e.event_type === 'request_rejected' && e.reason === reason);

describe('request_rejected for policy rejections', () => {
  it('a foreign Host (421), a foreign Origin (403), an oversized body (413) and a wrong media type (415) are each recorded with the code, path and client', async () => {
    expect((await sendRequest(hive.port, { path: '/v1/workers', headers: { ...auth, host: 'evil.example' } })).status).toBe(421);
    expect((await sendRequest(hive.port, { method: 'POST', path: '/v1/workers', headers: { ...auth, origin: 'https://evil.example' }, body: { model: 'x' } })).status).toBe(403);
    expect((await sendRequest(hive.port, { method: 'POST', path: '/v1/workers', headers: auth, body: { model: 'x'.repeat(300 * 1024) } })).status).toBe(413);
    expect((await sendRequest(hive.port, { method: 'POST', path: '/v1/workers', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' })).status).toBe(415);
    for (const [reason, status] of [
      ['MISDIRECTED_HOST', 421],
      ['ORIGIN_NOT_ALLOWED', 403],
      ['BODY_TOO_LARGE', 413],
      ['UNSUPPORTED_MEDIA_TYPE', 415],
    ] as const) {
      const event = await audit.waitFor((e) => e.event_type === 'request_rejected' && e.reason === reason, 30_000);
      expect(event).toMatchObject({ path: '/v1/workers', details: { status, count: 1 } });
      expect(event.client_ip).toMatch(/127\.0\.0\.1/);
    }
    // Bad input (400) and bad credentials (401, an auth_failure) are not policy rejections.
    expect((await sendRequest(hive.port, { method: 'POST', path: '/v1/workers', headers: auth, body: { nope: 1 } })).status).toBe(400);
    expect(audit.events.filter((e) => e.event_type === 'request_rejected')).toHaveLength(4);
    expect(JSON.stringify(audit.events)).not.toContain(TOKEN);
  });

  it('a flood of one rejection from one address is coalesced: repeats within the window become one record with their count', async () => {
    const before = rejected('MISDIRECTED_HOST').length;
    for (let i = 0; i < 20; i++) expect((await sendRequest(hive.port, { path: '/v1/hive', headers: { host: 'rebind.example' } })).status).toBe(421);
    // The window opened by the first test's 421 (same code, same address) is still open, unless this
    // machine was slow enough for it to end: then one new record opened a new window.
    expect(rejected('MISDIRECTED_HOST').length - before).toBeLessThanOrEqual(2);
    await hive.app.close(); // ends the window: its record carries the count
    const records = rejected('MISDIRECTED_HOST').slice(before);
    expect(records.reduce((n, e) => n + Number(e.details?.count ?? 0), 0)).toBe(20);
    expect(records.at(-1)?.details).toMatchObject({ repeats_within_ms: 10_000 });
  });
});
