import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { uptime } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AuditEvent, AuditPage, AuditQuery, AuditRecord, AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';
import { AUDIT_GENESIS_HASH, isCriticalAuditEvent } from '../../src-shared/audit/AuditEvent.js';
import {
  AuditClosedError,
  AuditDirLockedError,
  AuditIoError,
  AuditLowDiskError,
  AuditQueueFullError,
} from '../../src-shared/audit/AuditErrors.js';
import type { AuditEmitOptions, AuditLog, AuditRecordListener, AuditRecovery, AuditStats } from './AuditLog.js';
import type { AuditMetrics, AuditRejectReason } from './auditMetrics.js';
import { NOOP_AUDIT_METRICS } from './auditMetrics.js';
import type { AuditFileName } from './auditFiles.js';
import { auditFileName, dayOf, listAuditFiles } from './auditFiles.js';
import { canonicalJson, computeRecordHash, parseRecordLine, sealRecord } from './canonicalJson.js';
import { readLinesBackward } from './lineReaders.js';
import { queryAuditDir } from './queryAuditDir.js';
import { sanitizeAuditEvent } from './sanitizeAuditEvent.js';
import { verifyAuditDir } from './verifyAuditDir.js';

export interface LocalAuditLogOptions {
  /** The folder; created (mode 0700) if missing. One writer per folder: a second one gets `AuditDirLockedError`. */
  dir: string;
  /** Written into every record, e.g. `queen`, `hive:<id>`, `worker:<id>`. */
  serviceId: string;
  /** A file is rotated before it would grow past this. Defaults to 64 MiB. */
  maxFileBytes?: number;
  /** Group commit: the longest an accepted event waits before it is fsynced. Defaults to 20 ms. */
  syncDelayMs?: number;
  /** Events accepted but not yet written; when full, `emit` rejects with `AuditQueueFullError`. Defaults to 10,000. */
  maxQueue?: number;
  /** Records per write call. Defaults to 4,096. */
  maxBatch?: number;
  /** Writes are refused while the folder's free space is below this. Defaults to 64 MiB. */
  minFreeBytes?: number;
  /** Free bytes available in `dir`. Defaults to `statfs` (`bavail * bsize`). Tests inject their own. */
  freeSpaceProbe?: (dir: string) => Promise<number>;
  /** Free space is probed at most this often (and after writing a quarter of `minFreeBytes`). Defaults to 1,000 ms. */
  diskProbeIntervalMs?: number;
  /** Epoch ms for timestamps and the file's day. Defaults to `Date.now`. */
  clock?: () => number;
  /** Defaults to `crypto.randomUUID`. */
  idGenerator?: () => string;
  /** Defaults to none (`stats()` still counts). See `registerAuditMetrics`. */
  metrics?: AuditMetrics;
  /** Known secrets (tokens) to replace by fingerprints wherever they appear. */
  secrets?: () => readonly string[];
  /** Told about failures the caller of `emit` cannot see (a failed background write, low disk starting). */
  onError?: (error: Error) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Pending {
  /** null: a flush barrier. */
  event: AuditEvent | null;
  timestamp: string;
  auditId: string;
  waiter: Waiter | null;
}

interface CurrentFile extends AuditFileName {
  size: number;
  fh: FileHandle | null;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** A write that failed and was cut back: the file still ends on a whole entry. */
class RecoverableWriteError extends AuditIoError {}
const lockedDirs = new Set<string>();

function defaultProbe(dir: string): Promise<number> {
  return statfs(dir).then((s) => s.bavail * s.bsize);
}

function errorOf(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The local, hash-chained, group-committed writer. Create it with `LocalAuditLog.open` (or `createAuditSink`). */
export class LocalAuditLog implements AuditLog {
  readonly mode = 'local' as const;
  readonly dir: string;
  readonly serviceId: string;
  /** What `open` found and repaired. */
  recovery: AuditRecovery = { resumedFrom: null, quarantined: [], tailHashMismatch: false };

  private readonly maxFileBytes: number;
  private readonly syncDelayMs: number;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly minFreeBytes: number;
  private readonly probe: (dir: string) => Promise<number>;
  private readonly probeIntervalMs: number;
  private readonly clock: () => number;
  private readonly newId: () => string;
  private readonly metrics: AuditMetrics;
  private readonly secrets: (() => readonly string[]) | undefined;
  private readonly onError: (error: Error) => void;

  private lastHash = AUDIT_GENESIS_HASH;
  private current: CurrentFile | null = null;
  private pending: Pending[] = [];
  private unsynced: Waiter[] = [];
  private dirty = false;
  private firstDirtyAt = 0;
  private urgent = false;
  private syncDue = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private pumping: Promise<void> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private failed: Error | null = null;
  private lowDisk: { since: string; free: number; refused: number } | null = null;
  private lastProbeAt = -Infinity;
  private lastFree = Number.POSITIVE_INFINITY;
  private bytesSinceProbe = 0;
  private probing: Promise<number> | null = null;
  private queueRefused = 0;
  private fsyncUnsupportedReported = false;
  private readonly listeners = new Set<AuditRecordListener>();
  private readonly counts: AuditStats = {
    written: 0,
    rejected: { queue_full: 0, low_disk: 0, closed: 0, io_error: 0 },
    syncs: 0,
    queueDepth: 0,
    lowDisk: false,
  };
  private readonly lockPath: string;

  private constructor(options: LocalAuditLogOptions) {
    this.dir = resolve(options.dir);
    this.serviceId = options.serviceId;
    this.maxFileBytes = options.maxFileBytes ?? 64 * 1024 * 1024;
    this.syncDelayMs = options.syncDelayMs ?? 20;
    this.maxQueue = options.maxQueue ?? 10_000;
    this.maxBatch = options.maxBatch ?? 4096;
    this.minFreeBytes = options.minFreeBytes ?? 64 * 1024 * 1024;
    this.probe = options.freeSpaceProbe ?? defaultProbe;
    this.probeIntervalMs = options.diskProbeIntervalMs ?? 1000;
    this.clock = options.clock ?? Date.now;
    this.newId = options.idGenerator ?? randomUUID;
    this.metrics = options.metrics ?? NOOP_AUDIT_METRICS;
    this.secrets = options.secrets;
    this.onError = options.onError ?? (() => undefined);
    this.lockPath = join(this.dir, '.writer.lock');
  }

  /**
   * Opens (or creates) the folder: takes the writer lock, finds the last good entry (newest file,
   * read backwards), moves a torn or unparsable tail to a side file `<file>.torn-<epoch ms>`,
   * truncates the file after the last good entry and continues the chain from its hash. Each repair
   * is then recorded as a critical `audit_integrity_violation` event before `open` resolves.
   */
  static async open(options: LocalAuditLogOptions): Promise<LocalAuditLog> {
    const log = new LocalAuditLog(options);
    await mkdir(log.dir, { recursive: true, mode: 0o700 });
    await log.acquireLock();
    try {
      await log.recover();
    } catch (error) {
      await log.releaseLock();
      throw error;
    }
    const reports: Promise<void>[] = [];
    for (const q of log.recovery.quarantined) {
      reports.push(
        log.emit({
          event_type: 'audit_integrity_violation',
          actor: 'system',
          reason: 'torn_tail_quarantined',
          details: { file: q.file, quarantine_file: q.quarantineFile, bytes: q.bytes, lines: q.lines },
        }),
      );
    }
    if (log.recovery.tailHashMismatch && log.recovery.resumedFrom) {
      reports.push(
        log.emit({
          event_type: 'audit_integrity_violation',
          actor: 'system',
          reason: 'tail_hash_mismatch',
          details: { file: log.recovery.resumedFrom.file, audit_id: log.recovery.resumedFrom.audit_id },
        }),
      );
    }
    // The repairs are recorded durably before the log is handed out; failing to record them is
    // reported, not fatal (the side files and `recovery` still say what happened).
    await Promise.all(reports.map((p) => p.catch((error: unknown) => log.onError(errorOf(error)))));
    return log;
  }

  emit(event: AuditEvent, options?: AuditEmitOptions): Promise<void> {
    if (this.closed || this.failed) return this.refuse('closed', new AuditClosedError(this.failed ? `audit log failed: ${this.failed.message}` : undefined));
    let clean: AuditEvent;
    try {
      clean = sanitizeAuditEvent(event, this.secrets ? { secrets: this.secrets } : {});
    } catch (error) {
      return Promise.reject(errorOf(error));
    }
    const durable = options?.durable === true || isCriticalAuditEvent(clean.event_type);
    if (this.lowDisk) return this.emitWhileLowOnDisk(clean, durable);
    return this.enqueue(clean, durable);
  }

  flush(): Promise<void> {
    if (this.failed) return Promise.reject(new AuditClosedError(`audit log failed: ${this.failed.message}`));
    if (this.pending.length === 0 && !this.dirty && !this.pumping) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ event: null, timestamp: '', auditId: '', waiter: { resolve, reject } });
      this.schedule();
    });
  }

  onRecord(listener: AuditRecordListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  query(query: AuditQuery): Promise<AuditPage> {
    return queryAuditDir(this.dir, query);
  }

  async verify(): Promise<AuditVerifyResult> {
    await this.flush();
    return verifyAuditDir(this.dir, { allowPartialTail: true });
  }

  stats(): AuditStats {
    return { ...this.counts, rejected: { ...this.counts.rejected }, queueDepth: this.pending.length, lowDisk: this.lowDisk !== null };
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      try {
        if (!this.failed) {
          await new Promise<void>((resolve, reject) => {
            this.pending.push({ event: null, timestamp: '', auditId: '', waiter: { resolve, reject } });
            this.schedule();
          }).catch(() => undefined);
        }
        while (this.pumping) await this.pumping;
        if (!this.failed && this.dirty) await this.sync().catch((error: unknown) => this.onError(errorOf(error)));
      } finally {
        if (this.syncTimer) clearTimeout(this.syncTimer);
        this.syncTimer = null;
        const fh = this.current?.fh;
        if (this.current) this.current.fh = null;
        if (fh) await fh.close().catch(() => undefined);
        await this.releaseLock();
      }
    })();
    return this.closing;
  }

  // ---- accepting -------------------------------------------------------------------------------

  private refuse(reason: AuditRejectReason, error: Error): Promise<void> {
    this.counts.rejected[reason]++;
    this.metrics.rejected(this.serviceId, reason);
    return Promise.reject(error);
  }

  private enqueue(event: AuditEvent, durable: boolean): Promise<void> {
    if (this.pending.length >= this.maxQueue) {
      this.queueRefused++;
      return this.refuse('queue_full', new AuditQueueFullError(this.maxQueue));
    }
    const entry: Pending = { event, timestamp: new Date(this.clock()).toISOString(), auditId: this.newId(), waiter: null };
    this.pending.push(entry);
    this.schedule();
    if (!durable) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      entry.waiter = { resolve, reject };
    });
  }

  private async emitWhileLowOnDisk(event: AuditEvent, durable: boolean): Promise<void> {
    const low = this.lowDisk;
    if (!low) return this.enqueue(event, durable);
    let free = this.lastFree;
    if (this.probing || performance.now() - this.lastProbeAt >= this.probeIntervalMs) free = await this.probeFree();
    if (this.closed || this.failed) return this.refuse('closed', new AuditClosedError());
    const still = this.lowDisk;
    if (still && free < this.minFreeBytes) {
      still.refused++;
      return this.refuse('low_disk', new AuditLowDiskError(this.dir, free, this.minFreeBytes));
    }
    if (still) {
      this.lowDisk = null;
      this.enqueue(
        {
          event_type: 'audit_writes_resumed',
          actor: 'system',
          reason: 'disk_space_recovered',
          details: { refused_events: still.refused, low_since: still.since, free_bytes: free },
        },
        false,
      ).catch(() => undefined); // a refusal is counted by enqueue itself
    }
    return this.enqueue(event, durable);
  }

  /** One probe at a time; a failing probe counts as "enough space" (reported, not fatal). */
  private probeFree(): Promise<number> {
    if (!this.probing) {
      this.probing = this.probe(this.dir)
        .catch((error: unknown) => {
          this.onError(new AuditIoError(`audit free-space probe failed in ${this.dir}`, error));
          return Number.POSITIVE_INFINITY;
        })
        .then((free) => {
          this.lastProbeAt = performance.now();
          this.lastFree = free;
          this.bytesSinceProbe = 0;
          if (free < this.minFreeBytes) {
            if (this.lowDisk) this.lowDisk.free = free;
            else {
              this.lowDisk = { since: new Date(this.clock()).toISOString(), free, refused: 0 };
              this.onError(new AuditLowDiskError(this.dir, free, this.minFreeBytes));
            }
          }
          return free;
        })
        .finally(() => {
          this.probing = null;
        });
    }
    return this.probing;
  }

  // ---- writing ---------------------------------------------------------------------------------

  private schedule(): void {
    if (this.scheduled || this.pumping) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.pumping) this.pumping = this.pump().finally(() => this.afterPump());
    });
  }

  private afterPump(): void {
    this.pumping = null;
    if (this.failed) return;
    if (this.pending.length > 0) {
      this.schedule();
      return;
    }
    if (this.dirty && !this.syncTimer) {
      const wait = Math.max(0, this.syncDelayMs - (performance.now() - this.firstDirtyAt));
      this.syncTimer = setTimeout(() => {
        this.syncTimer = null;
        this.syncDue = true;
        this.schedule();
      }, wait);
      this.syncTimer.unref();
    }
  }

  private async pump(): Promise<void> {
    try {
      while (!this.failed) {
        if (this.pending.length > 0) {
          const batch = this.pending.splice(0, this.maxBatch);
          this.metrics.queueDepth(this.serviceId, this.pending.length);
          await this.writeBatch(batch);
          if (this.dirty && (this.urgent || performance.now() - this.firstDirtyAt >= this.syncDelayMs)) await this.sync();
          continue;
        }
        if (this.queueRefused > 0) {
          const refused = this.queueRefused;
          this.queueRefused = 0;
          this.enqueue(
            { event_type: 'audit_writes_resumed', actor: 'system', reason: 'queue_drained', details: { refused_events: refused } },
            false,
          ).catch(() => undefined);
          continue;
        }
        if ((this.dirty && this.syncDue) || this.urgent) {
          await this.sync();
          continue;
        }
        break;
      }
    } catch (error) {
      this.fail(errorOf(error));
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    if (performance.now() - this.lastProbeAt >= this.probeIntervalMs || this.bytesSinceProbe >= this.minFreeBytes / 4) {
      // Sets `lowDisk` for later emits; what was accepted is still written (the threshold is the margin).
      await this.probeFree();
    }
    let lines: string[] = [];
    let bytes = 0;
    let records: AuditRecord[] = [];
    let waiters: Waiter[] = [];
    let hash = this.lastHash;
    let i = 0;
    try {
      for (; i < batch.length; i++) {
        const entry = batch[i] as Pending;
        if (entry.event === null) {
          if (entry.waiter) waiters.push(entry.waiter);
          continue;
        }
        const sealed = sealRecord(entry.auditId, entry.timestamp, this.serviceId, canonicalJson(entry.event), hash);
        const record: AuditRecord = {
          audit_id: entry.auditId,
          timestamp: entry.timestamp,
          service_id: this.serviceId,
          event: entry.event,
          prev_hash: hash,
          hash: sealed.hash,
        };
        const line = sealed.line;
        const lineBytes = Buffer.byteLength(line);
        // A day never goes backwards (a clock stepped back keeps writing today's file: chain order = file order).
        const day = this.current && dayOf(entry.timestamp) < this.current.date ? this.current.date : dayOf(entry.timestamp);
        const cur = this.current;
        if (!cur || day !== cur.date || (cur.size + bytes > 0 && cur.size + bytes + lineBytes > this.maxFileBytes)) {
          await this.appendChunk(lines, bytes, records, waiters, hash);
          lines = [];
          bytes = 0;
          records = [];
          waiters = [];
          await this.rotate(day);
        }
        lines.push(line);
        bytes += lineBytes;
        records.push(record);
        if (entry.waiter) waiters.push(entry.waiter);
        hash = record.hash;
      }
      await this.appendChunk(lines, bytes, records, waiters, hash);
    } catch (error) {
      // Nothing of the failed chunk or the rest of the batch is on disk; the chain stays at lastHash.
      const failure = error instanceof AuditIoError ? error : new AuditIoError(`audit write failed: ${errorOf(error).message}`, error);
      const rest = batch.slice(i);
      const lost = records.length + rest.filter((p) => p.event !== null).length;
      this.counts.rejected.io_error += lost;
      this.metrics.rejected(this.serviceId, 'io_error', lost);
      for (const w of waiters) w.reject(failure);
      for (const p of rest) p.waiter?.reject(failure);
      this.onError(failure);
      // A failed append was cut back to the last whole entry: later events may still be written.
      // Anything else (open, rotate, fsync) fails the log.
      if (!(error instanceof RecoverableWriteError)) throw failure;
    }
  }

  /** Appends one chunk to the current file; on success the chain advances to `chunkHash`. */
  private async appendChunk(lines: string[], bytes: number, records: AuditRecord[], waiters: Waiter[], chunkHash: string): Promise<void> {
    if (lines.length === 0) {
      if (waiters.length > 0) {
        this.unsynced.push(...waiters);
        this.urgent = true;
      }
      return;
    }
    const cur = this.current as CurrentFile;
    if (!cur.fh) cur.fh = await open(join(this.dir, cur.name), 'a', 0o600);
    const buf = Buffer.from(lines.join(''), 'utf8');
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
    cur.size += bytes;
    this.bytesSinceProbe += bytes;
    this.lastHash = chunkHash;
    if (!this.dirty) {
      this.dirty = true;
      this.firstDirtyAt = performance.now();
    }
    if (waiters.length > 0) {
      this.unsynced.push(...waiters);
      this.urgent = true;
    }
    this.counts.written += records.length;
    this.metrics.written(this.serviceId, records.length);
    if (this.listeners.size > 0) {
      for (const record of records) {
        for (const listener of this.listeners) {
          try {
            listener(record);
          } catch (error) {
            this.onError(errorOf(error));
          }
        }
      }
    }
  }

  /** fdatasync the current file, then tell the waiters. A failed fsync fails the log (the page cache state is unknown). */
  private async sync(): Promise<void> {
    const waiters = this.unsynced;
    this.unsynced = [];
    this.urgent = false;
    this.syncDue = false;
    if (this.dirty && this.current?.fh) {
      const t0 = performance.now();
      try {
        await this.current.fh.datasync().catch((error: unknown) => {
          if (!isFsyncUnsupported(error)) throw error;
          if (!this.fsyncUnsupportedReported) {
            this.fsyncUnsupportedReported = true;
            this.onError(new AuditIoError(`fsync is not supported for ${this.current?.name ?? 'the audit file'}: durability is what the filesystem gives`, error));
          }
        });
      } catch (error) {
        const failure = new AuditIoError(`audit fsync of ${this.current.name} failed: ${errorOf(error).message}`, error);
        for (const w of waiters) w.reject(failure);
        throw failure;
      }
      this.dirty = false;
      this.counts.syncs++;
      this.metrics.synced(this.serviceId, (performance.now() - t0) / 1000);
    }
    for (const w of waiters) w.resolve();
  }

  /** Closes the current file (synced) and opens the next: the day's first, or the day's next sequence number. */
  private async rotate(day: string): Promise<void> {
    const prev = this.current;
    if (prev?.fh) {
      await this.sync();
      await prev.fh.close();
      prev.fh = null;
    }
    const seq = prev && prev.date === day ? prev.seq + 1 : 0;
    const name = auditFileName(day, seq);
    const fh = await open(join(this.dir, name), 'a', 0o600);
    this.current = { name, date: day, seq, size: (await fh.stat()).size, fh };
    await this.syncDir();
  }

  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } catch {
      // Some filesystems refuse fsync on a directory; the file's own fsync still holds its data.
    } finally {
      await dh.close();
    }
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = error;
    const failure = new AuditClosedError(`audit log failed: ${error.message}`);
    for (const w of this.unsynced) w.reject(failure);
    this.unsynced = [];
    for (const p of this.pending.splice(0)) p.waiter?.reject(failure);
    this.onError(error);
  }

  // ---- opening ---------------------------------------------------------------------------------

  private async acquireLock(): Promise<void> {
    if (lockedDirs.has(this.dir)) throw new AuditDirLockedError(this.dir, process.pid);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(this.lockPath, `${process.pid}\n${Date.now()}\n`, { flag: 'wx', mode: 0o600 });
        lockedDirs.add(this.dir);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const [pidText, writtenText] = (await readFile(this.lockPath, 'utf8').catch(() => '')).split('\n');
      const owner = Number.parseInt(pidText ?? '', 10);
      const writtenAt = Number.parseInt(writtenText ?? '', 10);
      // Stale when its process is gone, or when it was written before this machine last booted
      // (after a reboot its PID may belong to an unrelated process).
      const beforeBoot = Number.isFinite(writtenAt) && writtenAt < Date.now() - uptime() * 1000 - 5000;
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !beforeBoot && isAlive(owner)) {
        throw new AuditDirLockedError(this.dir, owner);
      }
      await unlink(this.lockPath).catch(() => undefined); // stale: its writer is gone
    }
    throw new AuditDirLockedError(this.dir, -1);
  }

  private async releaseLock(): Promise<void> {
    if (!lockedDirs.has(this.dir)) return;
    lockedDirs.delete(this.dir);
    const owner = Number.parseInt(await readFile(this.lockPath, 'utf8').catch(() => ''), 10);
    if (owner === process.pid) await unlink(this.lockPath).catch(() => undefined);
  }

  private async recover(): Promise<void> {
    const files = await listAuditFiles(this.dir);
    for (let i = files.length - 1; i >= 0; i--) {
      const file = files[i] as AuditFileName;
      const last = await this.recoverTail(file.name);
      if (last) {
        this.lastHash = last.hash;
        this.recovery.resumedFrom = { file: file.name, audit_id: last.audit_id };
        this.recovery.tailHashMismatch = computeRecordHash(last) !== last.hash;
        break;
      }
    }
    const newest = files[files.length - 1];
    if (newest) {
      // A crashed writer's last appends may sit unsynced in the page cache: make them durable before
      // the chain builds on them.
      const fh = await open(join(this.dir, newest.name), 'r+');
      try {
        await fh.datasync().catch((error: unknown) => {
          if (!isFsyncUnsupported(error)) throw error;
          this.onError(new AuditIoError(`fsync is not supported for ${newest.name}: durability is what the filesystem gives`, error));
        });
        this.current = { ...newest, size: (await fh.stat()).size, fh: null };
      } finally {
        await fh.close();
      }
    }
  }

  /**
   * Finds the file's last parsable entry, reading backwards. Whatever follows it (an unterminated
   * segment: a write cut short; unparsable lines: garbage a crash or a bad disk left) is copied to a
   * side file, fsynced, and cut from the file. A parsable entry with a wrong hash is NOT cut: that is
   * tampering, which `verify` must keep seeing.
   */
  private async recoverTail(name: string): Promise<AuditRecord | null> {
    const path = join(this.dir, name);
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
        const quarantineFile = `${name}.torn-${this.clock()}`;
        const qh = await open(join(this.dir, quarantineFile), 'wx', 0o600);
        try {
          await qh.writeFile(tail);
          await qh.sync();
        } finally {
          await qh.close();
        }
        await fh.truncate(goodEnd);
        await fh.sync();
        this.recovery.quarantined.push({ file: name, quarantineFile, bytes: tail.length, lines: junkLines + (partial > 0 ? 1 : 0) });
      } finally {
        await fh.close();
      }
      await this.syncDir();
    }
    return last;
  }
}

/** EINVAL/ENOTSUP from fsync: the file or filesystem cannot sync (not an I/O failure). */
function isFsyncUnsupported(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EINVAL' || code === 'ENOTSUP';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
