import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEvent } from '../../src-shared/audit/AuditEvent.js';
import { listAuditFiles } from './auditFiles.js';
import { parseRecordLine } from './canonicalJson.js';
import { errorOf, syncDirectory } from './fsyncHelpers.js';
import { readLinesForward } from './lineReaders.js';

const DAY_MS = 86_400_000;

/** What may be deleted: files whose last write is older than `days`, and the oldest files past `maxBytes` of the chain. Null: no limit. */
export interface AuditRetentionPolicy {
  days: number | null;
  maxBytes: number | null;
}

export const KEEP_EVERYTHING: AuditRetentionPolicy = Object.freeze({ days: null, maxBytes: null });

/** What one run removed (null from `apply`: nothing to remove). */
export interface AuditRetentionResult {
  removed: string[];
  removedBytes: number;
  firstKeptSeq: number;
  firstKeptPrevHash: string;
  firstKeptFile: string;
}

export interface AuditRetentionOptions {
  dir: string;
  /** The file the writer appends to now: never removed, nor anything after it. */
  currentFile: () => string | null;
  /** Writes the `retention` record durably; deletion waits for it. */
  record: (event: AuditEvent) => Promise<void>;
  clock: () => number;
  onError: (error: Error) => void;
}

interface Candidate {
  name: string;
  size: number;
  mtimeMs: number;
}

/**
 * Retention for one chain (docs/audit.md "Retention"): removes a *prefix* of the chain's files (never
 * a middle one, never the file being written) whose last write is older than `days`, and then the
 * oldest ones while the chain is larger than `maxBytes`. Before anything is deleted it writes a
 * durable `retention` record naming the first kept record (`first_kept_seq`, `first_kept_prev_hash`),
 * so verify accepts the chain's new start and shows what policy removed; a crash between the record
 * and the last deletion leaves a start the record already covers.
 */
export class AuditRetention {
  private policy: AuditRetentionPolicy = KEEP_EVERYTHING;
  private running: Promise<AuditRetentionResult | null> | null = null;

  constructor(private readonly options: AuditRetentionOptions) {}

  setPolicy(policy: AuditRetentionPolicy): void {
    this.policy = { ...policy };
  }

  get active(): boolean {
    return this.policy.days !== null || this.policy.maxBytes !== null;
  }

  /** Resolves when no run is under way. */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** One run; a run already under way is joined. */
  apply(): Promise<AuditRetentionResult | null> {
    this.running ??= this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<AuditRetentionResult | null> {
    if (!this.active) return null;
    const { dir } = this.options;
    const current = this.options.currentFile();
    const names = (await listAuditFiles(dir)).map((f) => f.name);
    const end = current === null ? names.length - 1 : names.indexOf(current);
    if (end <= 0) return null;
    const candidates: Candidate[] = [];
    for (const name of names.slice(0, end)) {
      const info = await stat(join(dir, name));
      candidates.push({ name, size: info.size, mtimeMs: info.mtimeMs });
    }
    let cut = 0;
    let reason = '';
    if (this.policy.days !== null) {
      const before = this.options.clock() - this.policy.days * DAY_MS;
      while (cut < candidates.length && (candidates[cut] as Candidate).mtimeMs < before) cut++;
      if (cut > 0) reason = 'retention_days';
    }
    if (this.policy.maxBytes !== null) {
      let total = candidates.slice(cut).reduce((n, c) => n + c.size, 0) + (await sizeOf(dir, names.slice(end)));
      const cutBefore = cut;
      while (total > this.policy.maxBytes && cut < candidates.length) total -= (candidates[cut++] as Candidate).size;
      if (cut > cutBefore) reason = reason ? `${reason}+max_bytes` : 'max_bytes';
    }
    if (cut === 0) return null;
    const firstKept = await firstRecordFrom(dir, names.slice(cut));
    // A chain written before seq existed cannot name its new start: nothing is removed.
    if (!firstKept) return null;
    const removed = candidates.slice(0, cut);
    const result: AuditRetentionResult = {
      removed: removed.map((c) => c.name),
      removedBytes: removed.reduce((n, c) => n + c.size, 0),
      firstKeptSeq: firstKept.seq,
      firstKeptPrevHash: firstKept.prevHash,
      firstKeptFile: firstKept.file,
    };
    await this.options.record({
      event_type: 'retention',
      actor: 'system',
      reason,
      details: {
        first_kept_seq: result.firstKeptSeq,
        first_kept_prev_hash: result.firstKeptPrevHash,
        first_kept_file: result.firstKeptFile,
        removed_files: result.removed.length,
        removed_bytes: result.removedBytes,
        oldest_removed: result.removed[0] ?? null,
        newest_removed: result.removed.at(-1) ?? null,
      },
    });
    // Oldest first: a crash midway leaves a start before the named one, which verify accepts.
    for (const name of result.removed) {
      await unlink(join(dir, name)).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.options.onError(errorOf(error));
      });
    }
    await syncDirectory(dir);
    return result;
  }
}

async function sizeOf(dir: string, names: readonly string[]): Promise<number> {
  let total = 0;
  for (const name of names) total += await stat(join(dir, name)).then((s) => s.size, () => 0);
  return total;
}

async function firstRecordFrom(dir: string, names: readonly string[]): Promise<{ seq: number; prevHash: string; file: string } | null> {
  for (const file of names) {
    for await (const { line, terminated } of readLinesForward(join(dir, file))) {
      if (!terminated) return null;
      const record = parseRecordLine(line);
      if (record?.seq === undefined) return null;
      return { seq: record.seq, prevHash: record.prev_hash, file };
    }
  }
  return null;
}
