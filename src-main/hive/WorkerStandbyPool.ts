import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import type { Device } from '../../src-shared/cluster/WorkerInfo.js';
import type { Logger } from '../common/log/createLogger.js';
import { rbeeCommand, type ProcessCommand } from '../common/rbeeCommand.js';
import { childEnv } from '../common/process/childEnv.js';

/**
 * How to start a standby (`src-main/cli/workerStandby.ts`): the same interpreter and loader flags as
 * `rbeeCommand('worker')`, with the CLI entry swapped for the standby entry.
 */
export function standbyCommand(): ProcessCommand {
  const base = rbeeCommand('worker', []);
  const ext = extname(base.modulePath);
  const modulePath = resolve(dirname(base.modulePath), `workerStandby${ext}`);
  return { command: base.command, args: [...base.execArgv, modulePath], modulePath, forkArgs: [], execArgv: base.execArgv };
}

/**
 * Keeps `size` pre-started worker processes warm (process start-up, loader and module graph already
 * paid). `take()` hands one over — the caller sends it its arguments — and starts a replacement.
 * Costs one idle Node process per slot; `size` 0 disables it.
 */
export class WorkerStandbyPool {
  private readonly idle: ChildProcess[] = [];
  private readonly warm = new WeakSet<ChildProcess>();
  private closed = false;
  private failures = 0;

  /** `<device>:<threads>` a standby may prepare node-llama-cpp for (env `RBEE_STANDBY_PREWARM`). */
  private prewarm: string | null = null;

  constructor(
    private readonly size: number,
    private readonly logger: Logger,
    private readonly command: () => ProcessCommand = standbyCommand,
    private readonly refillDelayMs = 3_000,
    prewarm: { device: 'auto' | 'cpu' | 'gpu'; threads: number } | null = null,
  ) {
    if (prewarm) this.prewarmFor(prewarm.device, prewarm.threads);
    if (size > 0 && !existsSync(this.command().modulePath)) {
      // e.g. a bundle built without the standby entry: spawn fresh processes instead.
      logger.warn({ path: this.command().modulePath }, 'worker standby entry not found: standby disabled');
      this.failures = Number.POSITIVE_INFINITY;
      return;
    }
    for (let i = 0; i < size; i++) this.refill();
  }

  /** The next standbys prepare for this device/thread pair (the last one spawned is the best guess). */
  prewarmFor(device: Device, threads: number): void {
    this.prewarm = `${device === 'cpu' ? 'cpu' : 'auto'}:${threads}`;
  }

  /** Standbys that have finished loading their modules and wait for work. */
  get readyCount(): number {
    return this.idle.filter((c) => this.warm.has(c)).length;
  }

  /** A warm process (may still be loading its modules), or null when none is available. */
  take(): ChildProcess | null {
    while (this.idle.length > 0) {
      const child = this.idle.shift()!;
      child.removeAllListeners('exit');
      child.removeAllListeners('message');
      child.stdout?.removeAllListeners('data');
      child.stderr?.removeAllListeners('data');
      if (child.exitCode === null && child.signalCode === null && child.connected) {
        // Not at once: the replacement's start-up would compete for CPU with the worker just handed over.
        const timer = setTimeout(() => this.refill(), this.refillDelayMs);
        timer.unref();
        return child;
      }
    }
    return null;
  }

  private refill(): void {
    if (this.closed || this.size === 0 || this.idle.length >= this.size) return;
    // A standby that keeps dying (broken install) must not become a fork bomb: stop after 3 in a row.
    if (this.failures >= 3) return;
    const { command, args } = this.command();
    const env: NodeJS.ProcessEnv = childEnv(process.env);
    if (this.prewarm) env.RBEE_STANDBY_PREWARM = this.prewarm;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
    let tail = '';
    child.stdout?.on('data', () => undefined);
    child.stderr?.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-2000)));
    child.once('message', () => {
      this.failures = 0;
      this.warm.add(child);
    });
    child.once('exit', (code, signal) => {
      const i = this.idle.indexOf(child);
      if (i !== -1) this.idle.splice(i, 1);
      if (this.closed) return;
      this.failures += 1;
      this.logger.warn({ code, signal, stderr: tail }, 'worker standby exited before use');
      this.refill();
    });
    this.idle.push(child);
  }

  /** Ends every idle standby (closing its IPC channel is enough; SIGKILL if it lingers). */
  dispose(): void {
    this.closed = true;
    for (const child of this.idle.splice(0)) {
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      timer.unref();
      child.once('exit', () => clearTimeout(timer));
    }
  }

  /** Synchronous last resort (process exit). */
  killAll(): void {
    this.closed = true;
    for (const child of this.idle.splice(0)) child.kill('SIGKILL');
  }
}
