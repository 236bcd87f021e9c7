import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { AuditIoError } from '../../src-shared/audit/AuditErrors.js';
import type { AuditRecovery } from './AuditLog.js';
import type { AuditFileName } from './auditFiles.js';
import { listAuditFiles } from './auditFiles.js';
import { computeRecordHash, parseRecordLine } from './canonicalJson.js';
import { isFsyncUnsupported, syncDirectory } from './fsyncHelpers.js';
import { readLinesBackward, readLinesForward } from './lineReaders.js';

export interface RecoveredAuditDir {
  recovery: AuditRecovery;
  /** The entry the chain continues from; null: a fresh chain. */
  last: AuditRecord | null;
  /**
   * The seq the chain continues from: the last record's, or, for a chain written before seq existed,
   * the number of records it holds (so the first seq'd record follows on).
   */
  lastSeq: number;
  /** The newest file and its size after repair; the writer appends to it. */
  newest: { file: AuditFileName; size: number } | null;
}

export interface RecoverAuditDirOptions {
  /** Epoch ms, for the side files' names. */
  clock: () => number;
  onError: (error: Error) => void;
}

/**
 * What a writer does before it continues a folder's chain: finds the last good entry (newest file,
 * read backwards), moves a torn or unparsable tail to a side file `<file>.torn-<epoch ms>`, cuts the
 * file after the last good entry, and makes the newest file durable (a crashed writer's last appends
 * may still sit in the page cache).
 */
export async function recoverAuditDir(dir: string, options: RecoverAuditDirOptions): Promise<RecoveredAuditDir> {
  const recovery: AuditRecovery = { resumedFrom: null, quarantined: [], tailHashMismatch: false };
  let last: AuditRecord | null = null;
  const files = await listAuditFiles(dir);
  for (let i = files.length - 1; i >= 0; i--) {
    const file = files[i] as AuditFileName;
    last = await recoverTail(dir, file.name, recovery, options.clock);
    if (last) {
      recovery.resumedFrom = { file: file.name, audit_id: last.audit_id };
      recovery.tailHashMismatch = computeRecordHash(last) !== last.hash;
      break;
    }
  }
  const newestFile = files[files.length - 1];
  const lastSeq = last === null ? 0 : (last.seq ?? (await countRecords(dir, files)));
  if (!newestFile) return { recovery, last, lastSeq, newest: null };
  const fh = await open(join(dir, newestFile.name), 'r+');
  try {
    await fh.datasync().catch((error: unknown) => {
      if (!isFsyncUnsupported(error)) throw error;
      options.onError(new AuditIoError(`fsync is not supported for ${newestFile.name}: durability is what the filesystem gives`, error));
    });
    return { recovery, last, lastSeq, newest: { file: newestFile, size: (await fh.stat()).size } };
  } finally {
    await fh.close();
  }
}

/**
 * Finds the file's last parsable entry, reading backwards. Whatever follows it (an unterminated
 * segment: a write cut short; unparsable lines: garbage a crash or a bad disk left) is copied to a
 * side file, fsynced, and cut from the file. A parsable entry with a wrong hash is NOT cut: that is
 * tampering, which `verify` must keep seeing.
 */
async function recoverTail(dir: string, name: string, recovery: AuditRecovery, clock: () => number): Promise<AuditRecord | null> {
  const path = join(dir, name);
  let partial = 0;
  let junkLines = 0;
  let goodEnd = 0;
  let last: AuditRecord | null = null;
  for await (const l of readLinesBackward(path, { onPartialTail: (b) => (partial = b) })) {
    const record = parseRecordLine(l.line);
    if (record) {
      last = record;
      goodEnd = l.next;
      break;
    }
    junkLines++;
    if (junkLines > 10_000) throw new AuditIoError(`audit file ${name} ends in more than 10,000 unparsable lines; run 'rbee audit verify'`);
  }
  const size = (await stat(path)).size;
  if (size > goodEnd) {
    const fh = await open(path, 'r+');
    try {
      const tail = Buffer.alloc(size - goodEnd);
      await fh.read(tail, 0, tail.length, goodEnd);
      const quarantineFile = `${name}.torn-${clock()}`;
      const qh = await open(join(dir, quarantineFile), 'wx', 0o600);
      try {
        await qh.writeFile(tail);
        await qh.sync();
      } finally {
        await qh.close();
      }
      await fh.truncate(goodEnd);
      await fh.sync();
      recovery.quarantined.push({ file: name, quarantineFile, bytes: tail.length, lines: junkLines + (partial > 0 ? 1 : 0) });
    } finally {
      await fh.close();
    }
    await syncDirectory(dir);
  }
  return last;
}

/** Lines of a legacy chain (before seq): the seq its last record would have had. */
async function countRecords(dir: string, files: AuditFileName[]): Promise<number> {
  let n = 0;
  for (const f of files) {
    for await (const l of readLinesForward(join(dir, f.name))) if (l.terminated) n++;
  }
  return n;
}
