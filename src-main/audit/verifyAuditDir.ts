import { join } from 'node:path';
import type { AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';
import { AUDIT_GENESIS_HASH } from '../../src-shared/audit/AuditEvent.js';
import { listAuditFiles } from './auditFiles.js';
import { computeRecordHash, parseRecordLine } from './canonicalJson.js';
import { readLinesForward } from './lineReaders.js';

export interface VerifyAuditDirOptions {
  /**
   * Treat an unterminated last line of the newest file as not yet written (a live writer may be in
   * the middle of appending it) instead of reporting it. Defaults to false: `rbee audit verify` is
   * strict, and a torn tail left by a crash is reported until the writer's next start repairs it.
   */
  allowPartialTail?: boolean;
  /** Stops early when aborted (throws the reason). */
  signal?: AbortSignal;
}

/**
 * Checks every `.audit` file of `dir` in chain order, streaming (memory does not grow with the log).
 * Each line must parse as a record (`Unparsable`), its `hash` must equal the SHA-256 of its canonical
 * form (`InvalidHash`: the entry was edited), and its `prev_hash` must equal the previous entry's
 * `hash`, the first entry's the genesis (64 zeros) (`BrokenChain`: an entry was removed, reordered or
 * inserted before this one). Reports the first failure; `line` is 1-based within `file`.
 */
export async function verifyAuditDir(dir: string, options: VerifyAuditDirOptions = {}): Promise<AuditVerifyResult> {
  const files = await listAuditFiles(dir);
  let expectedPrev = AUDIT_GENESIS_HASH;
  let entries = 0;
  for (let f = 0; f < files.length; f++) {
    const file = (files[f] as { name: string }).name;
    const newest = f === files.length - 1;
    let lineNo = 0;
    for await (const { line, terminated } of readLinesForward(join(dir, file))) {
      options.signal?.throwIfAborted();
      lineNo++;
      if (!terminated && newest && options.allowPartialTail) break;
      const record = terminated ? parseRecordLine(line) : null;
      const fail = (kind: 'InvalidHash' | 'BrokenChain' | 'Unparsable', auditId: string | null): AuditVerifyResult => ({
        ok: false,
        entries,
        files: files.length,
        error: { kind, file, line: lineNo, audit_id: auditId },
      });
      if (record === null) return fail('Unparsable', auditIdOf(line));
      if (computeRecordHash(record) !== record.hash) return fail('InvalidHash', record.audit_id);
      if (record.prev_hash !== expectedPrev) return fail('BrokenChain', record.audit_id);
      expectedPrev = record.hash;
      entries++;
    }
  }
  return { ok: true, entries, files: files.length };
}

/** Best effort: the audit_id of a line that does not parse, for the report. */
function auditIdOf(line: string): string | null {
  const m = /"audit_id":"([^"\\]{1,200})"/.exec(line);
  return m ? (m[1] as string) : null;
}
