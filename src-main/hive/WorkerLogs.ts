import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { scrubSecrets } from '../audit/sanitizeAuditEvent.js';
import type { WorkerLogLine } from '../../src-shared/control/workerLogs.js';

/** One captured line of a worker's output (the wire shape, shared with the dashboard). */
export type { WorkerLogLine };

export type WorkerLogListener = (line: WorkerLogLine) => void;

export interface WorkerLogsOptions {
  /** `<data>/logs`: one `<worker>.log` per worker, rotated to `.1` past `maxFileBytes`. None = memory only. */
  dir?: string;
  /** Lines kept in memory per worker. Defaults to 5 000. */
  ringLines?: number;
  /** Rotation threshold of a worker's file. Defaults to 10 MiB. */
  maxFileBytes?: number;
  /** Secrets to redact (the hive's and its workers' tokens). */
  secrets?: () => readonly string[];
}

/** A line longer than this is cut: a runaway print must not hold the ring's memory. */
const MAX_LINE_CHARS = 4_096;

class WorkerLog {
  readonly lines: WorkerLogLine[] = [];
  readonly listeners = new Set<WorkerLogListener>();
  seq = 0;
  fileBytes = -1;
}

/**
 * Every worker's stdout and stderr (node-llama-cpp's log included), redacted like the audit log, in a
 * bounded ring per worker and a rotated file. The supervisor hands each new child process to `attach`;
 * routes read `tail` and `follow`. Kept apart from the worker's lifecycle code on purpose.
 */
export class WorkerLogs {
  private readonly logs = new Map<string, WorkerLog>();
  private readonly ringLines: number;
  private readonly maxFileBytes: number;

  constructor(private readonly options: WorkerLogsOptions = {}) {
    this.ringLines = options.ringLines ?? 5_000;
    this.maxFileBytes = options.maxFileBytes ?? 10 * 1024 * 1024;
    if (options.dir) mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  }

  /** Captures a (new) process of worker `id`; partial lines are joined until their newline. */
  attach(id: string, child: { stdout?: Readable | null; stderr?: Readable | null }): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      if (!source) continue;
      let partial = '';
      source.on('data', (chunk: Buffer | string) => {
        const parts = (partial + chunk.toString()).split('\n');
        partial = parts.pop() ?? '';
        for (const part of parts) this.append(id, stream, part);
        if (partial.length > MAX_LINE_CHARS) {
          this.append(id, stream, partial);
          partial = '';
        }
      });
      source.once('end', () => {
        if (partial) this.append(id, stream, partial);
        partial = '';
      });
    }
  }

  append(id: string, stream: 'stdout' | 'stderr', raw: string): void {
    const log = this.logOf(id);
    const text = scrubSecrets(raw.replace(/\r$/, '').slice(0, MAX_LINE_CHARS), this.options.secrets?.() ?? []);
    const line: WorkerLogLine = { seq: ++log.seq, at: Date.now(), stream, text };
    log.lines.push(line);
    if (log.lines.length > this.ringLines) log.lines.splice(0, log.lines.length - this.ringLines);
    this.writeFile(id, log, line);
    for (const listener of [...log.listeners]) listener(line);
  }

  /** The last `n` lines (all kept ones when `n` is undefined). */
  tail(id: string, n?: number): WorkerLogLine[] {
    const lines = this.logs.get(id)?.lines ?? [];
    return n === undefined ? [...lines] : lines.slice(Math.max(0, lines.length - n));
  }

  /** Every later line of worker `id`; returns the unsubscribe function. */
  follow(id: string, listener: WorkerLogListener): () => void {
    const log = this.logOf(id);
    log.listeners.add(listener);
    return () => log.listeners.delete(listener);
  }

  /** Forgets a removed worker's ring (its file stays for the operator). */
  forget(id: string): void {
    const log = this.logs.get(id);
    if (log && log.listeners.size === 0) this.logs.delete(id);
  }

  private logOf(id: string): WorkerLog {
    let log = this.logs.get(id);
    if (!log) {
      log = new WorkerLog();
      this.logs.set(id, log);
    }
    return log;
  }

  private writeFile(id: string, log: WorkerLog, line: WorkerLogLine): void {
    const dir = this.options.dir;
    if (!dir) return;
    const path = join(dir, `${id}.log`);
    const record = `${new Date(line.at).toISOString()} ${line.stream} ${line.text}\n`;
    try {
      if (log.fileBytes < 0) log.fileBytes = fileSize(path);
      if (log.fileBytes + record.length > this.maxFileBytes && log.fileBytes > 0) {
        renameSync(path, `${path}.1`);
        log.fileBytes = 0;
      }
      // Synchronous and small: lines arrive already batched by the pipe; ordering matters more.
      appendFileSync(path, record, { mode: 0o600 });
      log.fileBytes += Buffer.byteLength(record);
    } catch {
      // A full or read-only disk must not take the worker down; the ring still has the line.
    }
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
