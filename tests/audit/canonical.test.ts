import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, computeRecordHash, recordHashInput, sealRecord } from '../../src-main/audit/canonicalJson.js';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';

describe('canonical form and hash (docs/audit.md "The hash")', () => {
  it('is RFC 8785 for our values: sorted members, no whitespace, JSON.stringify strings and numbers', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'é\n"'], c: { z: 1e21, y: -0, x: 0.1 }, u: undefined })).toBe(
      '{"a":[true,null,"é\\n\\""],"b":1,"c":{"x":0.1,"y":0,"z":1e+21}}',
    );
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/non-finite/);
  });

  it('hashes exactly the documented bytes, and the writer fast path agrees for non-ASCII text', () => {
    const base = {
      audit_id: 'a1',
      timestamp: '2026-11-27T09:00:00.000Z',
      service_id: 'hive:gpu1',
      event: { event_type: 'worker_crashed', worker_id: 'wörker-🐝', reason: 'segfault \u2028 "quoted"', details: { z: 1, a: 'x' } },
      prev_hash: '0'.repeat(64),
    } as const;
    const input = recordHashInput(base as unknown as AuditRecord);
    expect(input).toBe(
      `{"audit_id":"a1","event":{"details":{"a":"x","z":1},"event_type":"worker_crashed","reason":"segfault \u2028 \\"quoted\\"","worker_id":"wörker-🐝"},` +
        `"prev_hash":"${'0'.repeat(64)}","service_id":"hive:gpu1","timestamp":"2026-11-27T09:00:00.000Z"}`,
    );
    const hash = createHash('sha256').update(Buffer.from(input, 'utf8')).digest('hex');
    expect(computeRecordHash(base as unknown as AuditRecord)).toBe(hash);
    // The writer's fast path adds seq (covered by the hash, sorted between prev_hash and service_id)
    // and, with a sealing key, the MAC over the hash (not covered by it).
    const withSeq = { ...base, seq: 7 };
    const seqInput = recordHashInput(withSeq as unknown as AuditRecord);
    expect(seqInput).toContain(`"prev_hash":"${'0'.repeat(64)}","seq":7,"service_id":"hive:gpu1"`);
    const seqHash = createHash('sha256').update(Buffer.from(seqInput, 'utf8')).digest('hex');
    const key = Buffer.from('k'.repeat(32));
    const sealed = sealRecord(base.audit_id, base.timestamp, base.service_id, canonicalJson(base.event), base.prev_hash, 7, key);
    expect(sealed.hash).toBe(seqHash);
    const parsed = JSON.parse(sealed.line) as AuditRecord;
    expect(Object.keys(parsed)).toEqual(['audit_id', 'seq', 'timestamp', 'service_id', 'event', 'prev_hash', 'hash', 'mac']);
    expect(computeRecordHash(parsed)).toBe(parsed.hash);
    expect(parsed.mac).toBe(createHmac('sha256', key).update(seqHash).digest('hex'));
    expect(computeRecordHash({ ...parsed, mac: 'f'.repeat(64) })).toBe(parsed.hash);
    expect(computeRecordHash({ ...parsed, seq: 8 })).not.toBe(parsed.hash);
    expect(sealed.line.endsWith('\n')).toBe(true);
    expect(hash).not.toBe(seqHash);
  });
});
