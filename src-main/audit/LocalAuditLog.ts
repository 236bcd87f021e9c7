import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AuditDegraded } from '../../src-shared/cluster/ClusterEvent.js';
import type { AuditEvent, AuditHead, AuditPage, AuditQuery, AuditRecord, AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';
import { AUDIT_GENESIS_HASH, isCriticalAuditEvent } from '../../src-shared/audit/AuditEvent.js';
import { AuditClosedError, AuditIoError, AuditLowDiskError, AuditQueueFullError } from '../../src-shared/audit/AuditErrors.js';
import type { AuditEmitOptions, AuditLog, AuditRecordListener, AuditRecovery, AuditStats } from './AuditLog.js';
import { AuditFileWriter, RecoverableWriteError } from './AuditFileWriter.js';
import { AuditHealth, type AuditHealthListener } from './AuditHealth.js';
import { AuditRetention, type AuditRetentionPolicy, type AuditRetentionResult } from './AuditRetention.js';
import { AuditWriterLock } from './AuditWriterLock.js';
import type { AuditMetrics, AuditRejectReason } from './auditMetrics.js';
import { NOOP_AUDIT_METRICS } from './auditMetrics.js';
import { canonicalJson, sealRecord } from './canonicalJson.js';
import { DiskSpaceGuard } from './DiskSpaceGuard.js';
import { errorOf } from './fsyncHelpers.js';
import { queryAuditDir } from './queryAuditDir.js';
import { recoverAuditDir } from './recoverAuditDir.js';
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
  /**
   * The sealing key: each record then carries `mac` = HMAC-SHA256(key, hash), so write access to the
   * folder alone cannot rebuild the chain. Keep it outside the folder (see `readAuditKeyFile`). Defaults to none.
   */
  sealKey?: Buffer;
  /** Which old files may be deleted (see `AuditRetention`). Defaults to keeping everything. */
  retention?: AuditRetentionPolicy;
  /** How often retention runs (also once at open). Defaults to 1 hour. */
  retentionIntervalMs?: number;
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

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The local, hash-chained writer: the group-commit queue. Accepted events wait in `pending`; one pump
 * at a time seals them onto the chain in batches, appends each batch with one write, and fsyncs at most
 * every `syncDelayMs` (at once when a durable event waits). The parts it drives: `AuditWriterLock`
 * (one writer per folder), `recoverAuditDir` (torn-tail repair at open), `DiskSpaceGuard` (refuse while
 * low on disk) and `AuditFileWriter` (append, fsync, rotate). Create it with `LocalAuditLog.open`
 * (or `createAuditSink`).
 */
export class LocalAuditLog implements AuditLog {
  readonly mode = 'local' as const;
  readonly dir: string;
  readonly serviceId: string;
  /** What `open` found and repaired. */
  recovery: AuditRecovery = { resumedFrom: null, quarantined: [], tailHashMismatch: false };

  private readonly syncDelayMs: number;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly clock: () => number;
  private readonly newId: () => string;
  private readonly metrics: AuditMetrics;
  private readonly secrets: (() => readonly string[]) | undefined;
  private readonly onError: (error: Error) => void;
  private readonly disk: DiskSpaceGuard;
  private readonly files: AuditFileWriter;
  private lock: AuditWriterLock | null = null;
  private readonly retention: AuditRetention;
  private readonly healthState: AuditHealth;
  private readonly retentionIntervalMs: number;
  private retentionTimer: NodeJS.Timeout | null = null;

  private lastHash = AUDIT_GENESIS_HASH;
  /** The seq of the chain's last written record (0: none yet). */
  private lastSeq = 0;
  private readonly sealKey: Buffer | null;
  private pending: Pending[] = [];
  private unsynced: Waiter[] = [];
  private urgent = false;
  private syncDue = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private pumping: Promise<void> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private failed: Error | null = null;
  private queueRefused = 0;
  private readonly listeners = new Set<AuditRecordListener>();
  private readonly counts: AuditStats = {
    written: 0,
    rejected: { queue_full: 0, low_disk: 0, closed: 0, io_error: 0 },
    syncs: 0,
    queueDepth: 0,
    lowDisk: false,
  };

  private constructor(options: LocalAuditLogOptions) {
    this.dir = resolve(options.dir);
    this.serviceId = options.serviceId;
    this.syncDelayMs = options.syncDelayMs ?? 20;
    this.maxQueue = options.maxQueue ?? 10_000;
    this.maxBatch = options.maxBatch ?? 4096;
    this.clock = options.clock ?? Date.now;
    this.newId = options.idGenerator ?? randomUUID;
    this.metrics = options.metrics ?? NOOP_AUDIT_METRICS;
    this.secrets = options.secrets;
    this.onError = options.onError ?? (() => undefined);
    this.sealKey = options.sealKey ?? null;
    this.healthState = new AuditHealth(this.serviceId, this.metrics, this.clock);
    this.disk = new DiskSpaceGuard({
      dir: this.dir,
      minFreeBytes: options.minFreeBytes ?? 64 * 1024 * 1024,
      ...(options.freeSpaceProbe ? { probe: options.freeSpaceProbe } : {}),
      probeIntervalMs: options.diskProbeIntervalMs ?? 1000,
      clock: this.clock,
      onError: this.onError,
      onLow: (error) => this.healthState.raise('low_disk', error.message),
    });
    this.files = new AuditFileWriter({ dir: this.dir, maxFileBytes: options.maxFileBytes ?? 64 * 1024 * 1024, onError: this.onError });
    this.retention = new AuditRetention({
      dir: this.dir,
      currentFile: () => this.files.currentName,
      record: (event) => this.emit(event, { durable: true }),
      clock: this.clock,
      onError: this.onError,
    });
    this.retentionIntervalMs = options.retentionIntervalMs ?? 3_600_000;
    if (options.retention) this.retention.setPolicy(options.retention);
  }

  /**
   * Opens (or creates) the folder: takes the writer lock, repairs a torn tail (`recoverAuditDir`) and
   * continues the chain from the last good entry. Each repair is then recorded as a critical
   * `audit_integrity_violation` event before `open` resolves.
   */
  static async open(options: LocalAuditLogOptions): Promise<LocalAuditLog> {
    const log = new LocalAuditLog(options);
    await mkdir(log.dir, { recursive: true, mode: 0o700 });
    log.lock = await AuditWriterLock.acquire(log.dir);
    try {
      const recovered = await recoverAuditDir(log.dir, { clock: log.clock, onError: log.onError });
      log.recovery = recovered.recovery;
      if (recovered.last) {
        log.lastHash = recovered.last.hash;
        log.lastSeq = recovered.lastSeq;
      }
      if (recovered.newest) log.files.resume(recovered.newest.file, recovered.newest.size);
    } catch (error) {
      await log.lock.release();
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
    log.scheduleRetention();
    return log;
  }

  /**
   * Sets the retention policy (a settings change) and runs it now, then every `retentionIntervalMs`.
   * `KEEP_EVERYTHING` stops it.
   */
  setRetention(policy: AuditRetentionPolicy): void {
    this.retention.setPolicy(policy);
    this.scheduleRetention();
  }

  /** One retention run now (deletes only after its `retention` record is durable); null when nothing was removed. */
  applyRetention(): Promise<AuditRetentionResult | null> {
    if (this.closed) return Promise.resolve(null);
    return this.retention.apply();
  }

  private scheduleRetention(): void {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    if (!this.retention.active || this.closed) return;
    const run = (): void => void this.applyRetention().catch((error: unknown) => this.onError(errorOf(error)));
    run();
    this.retentionTimer = setInterval(run, this.retentionIntervalMs);
    this.retentionTimer.unref();
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
    if (this.disk.low) return this.emitWhileLowOnDisk(clean, durable);
    return this.enqueue(clean, durable);
  }

  flush(): Promise<void> {
    if (this.failed) return Promise.reject(new AuditClosedError(`audit log failed: ${this.failed.message}`));
    if (this.pending.length === 0 && !this.files.dirty && !this.pumping) return RESOLVED;
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

  /** The chain's newest written record: what a witness records. */
  head(): AuditHead {
    return { chain: this.serviceId, seq: this.lastSeq, hash: this.lastHash };
  }

  async durableHead(): Promise<AuditHead | null> {
    await this.flush();
    return this.lastSeq > 0 ? this.head() : null;
  }

  /**
   * Records other chains' heads (one `witness` record each), so cutting one of them is seen from
   * this chain. Resolves once they are on disk.
   */
  async witness(heads: readonly AuditHead[], source: string): Promise<void> {
    await Promise.all(
      heads.map((h) =>
        this.emit(
          { event_type: 'witness', actor: 'system', reason: source, details: { chain: h.chain, seq: h.seq, hash: h.hash } },
          { durable: true },
        ),
      ),
    );
  }

  health(): AuditDegraded | null {
    return this.healthState.degraded;
  }

  onHealthChange(listener: AuditHealthListener): () => void {
    return this.healthState.onChange(listener);
  }

  stats(): AuditStats {
    return { ...this.counts, rejected: { ...this.counts.rejected }, queueDepth: this.pending.length, lowDisk: this.disk.low !== null };
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    this.closing = (async () => {
      await this.retention.settled();
      try {
        if (!this.failed) {
          // The clean-shutdown seal: a chain that does not end in one was cut or crashed.
          if (!this.disk.low) this.enqueue({ event_type: 'audit_sealed', actor: 'system', reason: 'clean_shutdown' }, false).catch(() => undefined);
          await new Promise<void>((resolve, reject) => {
            this.pending.push({ event: null, timestamp: '', auditId: '', waiter: { resolve, reject } });
            this.schedule();
          }).catch(() => undefined);
        }
        while (this.pumping) await this.pumping;
        if (!this.failed && this.files.dirty) await this.sync().catch((error: unknown) => this.onError(errorOf(error)));
      } finally {
        if (this.syncTimer) clearTimeout(this.syncTimer);
        this.syncTimer = null;
        await this.files.close();
        await this.lock?.release();
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
    if (!this.disk.low) return this.enqueue(event, durable);
    const free = await this.disk.currentFree();
    if (this.closed || this.failed) return this.refuse('closed', new AuditClosedError());
    const still = this.disk.low;
    if (still && free < this.disk.minFreeBytes) {
      still.refused++;
      return this.refuse('low_disk', new AuditLowDiskError(this.dir, free, this.disk.minFreeBytes));
    }
    const was = this.disk.recover();
    this.healthState.clear('low_disk');
    if (was) {
      this.enqueue(
        {
          event_type: 'audit_writes_resumed',
          actor: 'system',
          reason: 'disk_space_recovered',
          details: { refused_events: was.refused, low_since: was.since, free_bytes: free },
        },
        false,
      ).catch(() => undefined); // a refusal is counted by enqueue itself
    }
    return this.enqueue(event, durable);
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
    if (this.files.dirty && !this.syncTimer) {
      const wait = Math.max(0, this.syncDelayMs - (performance.now() - this.files.firstDirtyAt));
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
          if (this.files.dirty && (this.urgent || performance.now() - this.files.firstDirtyAt >= this.syncDelayMs)) await this.sync();
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
        if ((this.files.dirty && this.syncDue) || this.urgent) {
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
    // Sets the low state for later emits; what was accepted is still written (the threshold is the margin).
    await this.disk.probeIfDue();
    let lines: string[] = [];
    let bytes = 0;
    let records: AuditRecord[] = [];
    let waiters: Waiter[] = [];
    let hash = this.lastHash;
    let seq = this.lastSeq;
    let i = 0;
    try {
      for (; i < batch.length; i++) {
        const entry = batch[i] as Pending;
        if (entry.event === null) {
          if (entry.waiter) waiters.push(entry.waiter);
          continue;
        }
        const sealed = sealRecord(entry.auditId, entry.timestamp, this.serviceId, canonicalJson(entry.event), hash, seq + 1, this.sealKey);
        const record: AuditRecord = {
          audit_id: entry.auditId,
          seq: seq + 1,
          timestamp: entry.timestamp,
          service_id: this.serviceId,
          event: entry.event,
          prev_hash: hash,
          hash: sealed.hash,
          ...(sealed.mac ? { mac: sealed.mac } : {}),
        };
        const line = sealed.line;
        const lineBytes = Buffer.byteLength(line);
        const day = this.files.dayFor(entry.timestamp);
        if (this.files.needsRotation(day, bytes, lineBytes)) {
          await this.appendChunk(lines, bytes, records, waiters, hash, seq);
          lines = [];
          bytes = 0;
          records = [];
          waiters = [];
          if (this.files.isOpen) await this.sync();
          await this.files.rotate(day);
        }
        lines.push(line);
        bytes += lineBytes;
        records.push(record);
        if (entry.waiter) waiters.push(entry.waiter);
        hash = record.hash;
        seq += 1;
      }
      await this.appendChunk(lines, bytes, records, waiters, hash, seq);
    } catch (error) {
      // Nothing of the failed chunk or the rest of the batch is on disk; the chain stays at lastHash.
      const failure = error instanceof AuditIoError ? error : new AuditIoError(`audit write failed: ${errorOf(error).message}`, error);
      const rest = batch.slice(i);
      const lost = records.length + rest.filter((p) => p.event !== null).length;
      this.counts.rejected.io_error += lost;
      this.metrics.rejected(this.serviceId, 'io_error', lost);
      for (const w of waiters) w.reject(failure);
      for (const p of rest) p.waiter?.reject(failure);
      this.healthState.raise('io_error', failure.message);
      this.onError(failure);
      // A failed append was cut back to the last whole entry: later events may still be written.
      // Anything else (open, rotate, fsync) fails the log.
      if (!(error instanceof RecoverableWriteError)) throw failure;
    }
  }

  /** Appends one chunk to the current file; on success the chain advances to `chunkHash`. */
  private async appendChunk(lines: string[], bytes: number, records: AuditRecord[], waiters: Waiter[], chunkHash: string, chunkSeq: number): Promise<void> {
    if (lines.length === 0) {
      if (waiters.length > 0) {
        this.unsynced.push(...waiters);
        this.urgent = true;
      }
      return;
    }
    await this.files.append(Buffer.from(lines.join(''), 'utf8'));
    this.healthState.clear('io_error');
    this.disk.wrote(bytes);
    this.lastHash = chunkHash;
    this.lastSeq = chunkSeq;
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
    let seconds: number | null;
    try {
      seconds = await this.files.sync();
    } catch (error) {
      for (const w of waiters) w.reject(errorOf(error));
      throw error;
    }
    if (seconds !== null) {
      this.counts.syncs++;
      this.metrics.synced(this.serviceId, seconds);
    }
    for (const w of waiters) w.resolve();
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = error;
    this.healthState.raise('failed', error.message);
    const failure = new AuditClosedError(`audit log failed: ${error.message}`);
    for (const w of this.unsynced) w.reject(failure);
    this.unsynced = [];
    for (const p of this.pending.splice(0)) p.waiter?.reject(failure);
    this.onError(error);
  }
}
