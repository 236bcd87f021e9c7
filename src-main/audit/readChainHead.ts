import { join } from 'node:path';
import type { AuditHead } from '../../src-shared/audit/AuditEvent.js';
import { listAuditFiles } from './auditFiles.js';
import { parseRecordLine } from './canonicalJson.js';
import { readLinesBackward } from './lineReaders.js';

/**
 * The head of a chain another process writes (a hive reads its workers' this way): the last complete,
 * parsable record with a seq, newest file first, read backwards. A line still being written is skipped.
 * Null when the folder holds no such record. Nothing here is verified: the witness records what is on
 * disk, and verify checks it later.
 */
export async function readChainHead(dir: string): Promise<AuditHead | null> {
  const files = await listAuditFiles(dir);
  for (let i = files.length - 1; i >= 0; i--) {
    const name = (files[i] as { name: string }).name;
    for await (const { line } of readLinesBackward(join(dir, name))) {
      const record = parseRecordLine(line);
      if (record?.seq !== undefined) return { chain: record.service_id, seq: record.seq, hash: record.hash };
    }
  }
  return null;
}
