import type { AuditHead } from '../../src-shared/audit/AuditEvent.js';

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses `rbee audit head` output (one JSON `{"chain","seq","hash"}` per line); throws SyntaxError naming the bad line. */
export function readAuditHeads(text: string): AuditHead[] {
  const heads: AuditHead[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new SyntaxError(`heads line ${i + 1} is not JSON`);
    }
    const h = value as Partial<AuditHead> | null;
    if (!h || typeof h.chain !== 'string' || typeof h.seq !== 'number' || !Number.isSafeInteger(h.seq) || typeof h.hash !== 'string' || !HEX64.test(h.hash)) {
      throw new SyntaxError(`heads line ${i + 1} is not {"chain","seq","hash"}`);
    }
    heads.push({ chain: h.chain, seq: h.seq, hash: h.hash });
  });
  return heads;
}
