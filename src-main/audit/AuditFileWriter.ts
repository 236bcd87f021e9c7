import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AuditIoError } from '../../src-shared/audit/AuditErrors.js';
import type { AuditFileName } from './auditFiles.js';
import { auditFileName, dayOf } from './auditFiles.js';
import { errorOf, isFsyncUnsupported, syncDirectory } from './fsyncHelpers.js';

/** A write that failed and was cut back: the file still ends on a whole entry. */
export class RecoverableWriteError extends AuditIoError {}

interface CurrentFile extends AuditFileName {
  size: number;
  fh: FileHandle | null;
}

export interface AuditFileWriterOptions {
  dir: string;
  /** A file is rotated before it would grow past this. */
  maxFileBytes: number;
  /** Told once when the filesystem cannot fsync. */
  onError: (error: Error) => void;
}

/**
 * The files of one chain: which one is current, appending whole chunks to it (a failed append is cut
 * back to the last whole entry), fdatasync, and rotation (by UTC day, or by size within a day).
 */
export class AuditFileWriter {
  /** Written since the last sync. */
  dirty = false;
  /** `performance.now()` of the first unsynced append. */
  firstDirtyAt = 0;
  private current: CurrentFile | null = null;
  private fsyncUnsupportedReported = false;

  constructor(private readonly options: AuditFileWriterOptions) {}

  /** Continues the newest existing file (after recovery), opened on the first append. */
  resume(file: AuditFileName, size: number): void {
    this.current = { ...file, size, fh: null };
  }

  /** The day a record goes to: a day never goes backwards (a clock stepped back keeps writing today's file: chain order = file order). */
  dayFor(timestamp: string): string {
    const day = dayOf(timestamp);
    return this.current && day < this.current.date ? this.current.date : day;
  }

  /** Whether a line of `lineBytes` for `day`, after `pendingBytes` not yet appended, needs a new file. */
  needsRotation(day: string, pendingBytes: number, lineBytes: number): boolean {
    const cur = this.current;
    return !cur || day !== cur.date || (cur.size + pendingBytes > 0 && cur.size + pendingBytes + lineBytes > this.options.maxFileBytes);
  }

  get currentName(): string | null {
    return this.current?.name ?? null;
  }

  /** Appends `buf` to the current file. Throws `RecoverableWriteError` when the file was cut back to where it was. */
  async append(buf: Buffer): Promise<void> {
    const cur = this.current as CurrentFile;
    if (!cur.fh) cur.fh = await open(join(this.options.dir, cur.name), 'a', 0o600);
    const before = cur.size;
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await cur.fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
    } catch (error) {
      // Cut a partial append back so the file still ends on a whole entry.
      const cutBack = await cur.fh.truncate(before).then(
        () => true,
        () => false,
      );
      const Failure = cutBack ? RecoverableWriteError : AuditIoError;
      throw new Failure(`audit write to ${cur.name} failed: ${errorOf(error).message}`, error);
    }
    cur.size += buf.length;
    if (!this.dirty) {
      this.dirty = true;
      this.firstDirtyAt = performance.now();
    }
  }

  /** fdatasync the current file when dirty; returns the seconds it took, or null when nothing was synced. */
  async sync(): Promise<number | null> {
    const cur = this.current;
    if (!this.dirty || !cur?.fh) return null;
    const t0 = performance.now();
    try {
      await cur.fh.datasync().catch((error: unknown) => {
        if (!isFsyncUnsupported(error)) throw error;
        if (!this.fsyncUnsupportedReported) {
          this.fsyncUnsupportedReported = true;
          this.options.onError(new AuditIoError(`fsync is not supported for ${cur.name}: durability is what the filesystem gives`, error));
        }
      });
    } catch (error) {
      throw new AuditIoError(`audit fsync of ${cur.name} failed: ${errorOf(error).message}`, error);
    }
    this.dirty = false;
    return (performance.now() - t0) / 1000;
  }

  /** Closes the current file (the caller synced it) and opens the next: the day's first, or the day's next number. */
  async rotate(day: string): Promise<void> {
    const prev = this.current;
    if (prev?.fh) {
      await prev.fh.close();
      prev.fh = null;
    }
    const seq = prev && prev.date === day ? prev.seq + 1 : 0;
    const name = auditFileName(day, seq);
    const fh = await open(join(this.options.dir, name), 'a', 0o600);
    this.current = { name, date: day, seq, size: (await fh.stat()).size, fh };
    await syncDirectory(this.options.dir);
  }

  /** Whether the current file is open (a rotation must sync it first). */
  get isOpen(): boolean {
    return this.current?.fh != null;
  }

  async close(): Promise<void> {
    const fh = this.current?.fh;
    if (this.current) this.current.fh = null;
    if (fh) await fh.close().catch(() => undefined);
  }
}
