import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { OffloadInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { PolicyClock } from '../../src-shared/policy/RestartTracker.js';
import { isWorkerMessage, WORKER_TOKEN_ENV, type WorkerMessage } from '../../src-shared/worker/workerMessages.js';
import { localRequest, type LocalEndpoint } from '../common/http/localEndpoint.js';
import { childEnv } from '../common/process/childEnv.js';
import type { ProcessCommand } from '../common/rbeeCommand.js';

/** Builds the command that starts a worker (the hive passes `rbeeCommand('worker', args)`). */
export type WorkerLauncher = (args: string[]) => ProcessCommand;

/** What the worker reported when its model was loaded. */
export interface WorkerReady {
  slots: number;
  offload: OffloadInfo | null;
  vramMeasuredBytes: number | null;
}

/** How the process ended. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines it wrote to stderr (capped). */
  stderrTail: string;
  /** It ended before it reported `ready`. */
  beforeReady: boolean;
}

/** What `GET /health` of a worker answers (the fields the hive reads). */
export interface WorkerHealth {
  status?: string;
  slots?: { total?: number; free?: number };
  last_request_at?: number;
}

/** What the owner of a launch hears (replaceable: a hot spare changes owner role when it takes over). */
export interface WorkerProcessHandlers {
  /** It listens, or its load progressed: something `info()` shows changed. */
  onChange(): void;
  /** The model is loaded and the worker serves. */
  onReady(ready: WorkerReady): void;
  /** The process is gone (called once). */
  onExit(exit: WorkerExit): void;
}

export interface WorkerProcessOptions extends WorkerProcessHandlers {
  /** The worker's arguments (see workerArgs); the token travels in the environment. */
  args: string[];
  launcher: WorkerLauncher;
  /** Bearer token the worker requires. */
  token: string;
  /** Extra environment (a GPU pinning from admission). */
  env: Record<string, string>;
  /** A pre-started process waiting for its arguments (see WorkerStandbyPool); null = spawn fresh. */
  standby: ChildProcess | null;
  /** The Unix socket the worker listens on; null = an ephemeral loopback port. */
  socketPath: string | null;
  clock: PolicyClock;
  /** Sees the process (log capture: see WorkerLogs). */
  onSpawn?(child: ChildProcess): void;
}


const STDERR_TAIL_BYTES = 4096;
const STDERR_TAIL_LINES = 20;
/** A worker that announced `load_failed` but keeps running is killed after this long. */
const LOAD_FAILED_GRACE_MS = 3_000;

/**
 * One launch of a worker: a process from spawn (or standby hand-over) to exit. It reads the worker's
 * lifecycle messages (listening, load progress, ready, load_failed), keeps the stderr tail, probes
 * `/health`, and runs the stop cascade (polite → SIGTERM → SIGKILL). A restart is a new object, so a
 * late callback of an old process can never touch the new one. Policy lives elsewhere (ManagedWorker
 * on the shared ChildSupervisor).
 */
export class WorkerProcess {
  readonly child: ChildProcess;
  /** The process was a warm standby that got its arguments over IPC. */
  readonly warm: boolean;
  readonly startedAt: number;
  port: number | null = null;
  /** Socket workers: the socket is bound. */
  private socketBound = false;
  loadProgress = 0;
  readyInfo: WorkerReady | null = null;
  exit: WorkerExit | null = null;
  private stderr = '';
  private exitWaiters: Array<() => void> = [];
  private loadFailedTimer: NodeJS.Timeout | undefined;
  private handlers: WorkerProcessHandlers;

  private constructor(
    child: ChildProcess,
    warm: boolean,
    private readonly options: WorkerProcessOptions,
  ) {
    this.child = child;
    this.warm = warm;
    this.startedAt = options.clock.now();
    this.handlers = { onChange: options.onChange, onReady: options.onReady, onExit: options.onExit };
  }

  /** From now on these hear the process (a hot spare taking over reports to the worker, not the spare slot). */
  rebind(handlers: WorkerProcessHandlers): void {
    this.handlers = handlers;
  }

  /** The Unix socket it listens on; null for loopback TCP. */
  get socketPath(): string | null {
    return this.options.socketPath;
  }

  /** Resident set size in bytes (Linux /proc); null where it cannot be read. */
  rssBytes(): number | null {
    const pid = this.child.pid;
    if (pid === undefined || !this.alive) return null;
    try {
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return match ? Number(match[1]) * 1024 : null;
    } catch {
      return null;
    }
  }

  /** Spawns the worker (or hands its arguments to the standby). Listeners are attached before it returns. */
  static launch(options: WorkerProcessOptions): WorkerProcess {
    const standby = options.standby ? handOver(options.standby, options.args, options.token) : null;
    const child = standby ?? spawnFresh(options);
    const proc = new WorkerProcess(child, standby !== null, options);
    proc.attach();
    return proc;
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  /** The process has not exited (as far as we have been told). */
  get alive(): boolean {
    return this.exit === null;
  }

  /** Where it answers; null before it listens. */
  endpoint(): LocalEndpoint | null {
    const { socketPath } = this.options;
    if (socketPath !== null) return this.socketBound ? { socketPath } : null;
    return this.port === null ? null : { port: this.port };
  }

  /** The stderr tail, last lines only. */
  stderrTail(): string {
    return tailLines(this.stderr);
  }

  private attach(): void {
    const { child } = this;
    // stdout carries the same lifecycle lines as IPC; drain it so the pipe never fills.
    child.stdout?.resume();
    this.options.onSpawn?.(child);
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', (message: unknown) => {
      if (this.alive && isWorkerMessage(message)) this.onMessage(message);
    });
    child.once('error', (error) => {
      // Spawn failures (ENOENT, EACCES) arrive here; `exit` may not follow.
      this.stderr += `\nspawn error: ${error.message}`;
      if (child.exitCode === null && child.signalCode === null && child.pid === undefined) this.onExit(null, null);
    });
    child.once('exit', (code, signal) => this.onExit(code, signal));
  }

  private onMessage(message: WorkerMessage): void {
    switch (message.event) {
      case 'listening':
        this.port = message.socket === undefined ? message.port : null;
        this.socketBound = message.socket !== undefined;
        this.handlers.onChange();
        return;
      case 'load_progress':
        if (this.readyInfo) return;
        this.loadProgress = Math.max(this.loadProgress, Math.min(1, message.progress));
        this.handlers.onChange();
        return;
      case 'ready':
        if (this.readyInfo) return;
        this.port = message.socket === undefined ? message.port : null;
        this.socketBound = message.socket !== undefined;
        this.loadProgress = 1;
        this.readyInfo = { slots: message.slots, offload: message.offload ?? null, vramMeasuredBytes: message.vram_measured_bytes ?? null };
        this.handlers.onReady(this.readyInfo);
        return;
      case 'load_failed':
        this.stderr = `${this.stderr}\nload_failed: ${message.message}`.slice(-STDERR_TAIL_BYTES);
        // It is going away: release our end of the IPC channel so nothing keeps it alive.
        if (this.child.connected) this.child.disconnect();
        clearTimeout(this.loadFailedTimer);
        this.loadFailedTimer = setTimeout(() => this.kill('SIGKILL'), LOAD_FAILED_GRACE_MS);
        this.loadFailedTimer.unref();
        return;
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exit) return;
    clearTimeout(this.loadFailedTimer);
    this.exit = { code, signal, stderrTail: this.stderrTail(), beforeReady: this.readyInfo === null };
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const resolve of waiters) resolve();
    this.handlers.onExit(this.exit);
  }

  /** One `GET /health` within `timeoutMs`; null when it did not answer 200 in time. */
  async health(timeoutMs: number): Promise<WorkerHealth | null> {
    const endpoint = this.endpoint();
    if (endpoint === null || !this.alive) return null;
    try {
      // A stopped (SIGSTOP) process still accepts connections in the kernel, but never answers.
      const res = await localRequest(endpoint, '/health', { timeoutMs });
      return res.status === 200 ? ((await res.json()) as WorkerHealth) : null;
    } catch {
      return null;
    }
  }

  /** `POST /v1/shutdown` with the worker's token; errors are ignored (the next phase follows). */
  async askPolitely(timeoutMs: number): Promise<void> {
    if (!this.alive) return;
    // Closing our end of the IPC channel is the second polite signal (the worker watches for it),
    // and a worker whose event loop is otherwise empty would stay alive on an open channel.
    const disconnect = (): void => {
      if (this.child.connected) this.child.disconnect();
    };
    const endpoint = this.endpoint();
    if (endpoint === null) {
      disconnect();
      return;
    }
    try {
      await localRequest(endpoint, '/v1/shutdown', {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.token}` },
        timeoutMs: Math.max(50, timeoutMs),
      });
    } catch {
      // A hung or half-dead worker: SIGTERM and SIGKILL come next.
    }
    disconnect();
  }

  /** Sends a signal by pid; a no-op once the process is gone. */
  kill(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (!this.alive || pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }

  /** Resolves true when the process has exited (at once when it has), false after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<boolean> {
    if (!this.alive) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== done);
        resolve(false);
      }, Math.max(0, timeoutMs));
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.exitWaiters.push(done);
    });
  }

  /** The stop cascade for this one process: polite (⅓ of `timeoutMs`), SIGTERM (until ⅚), SIGKILL. */
  async stop(timeoutMs: number): Promise<void> {
    const { clock } = this.options;
    const start = clock.now();
    await this.askPolitely(Math.min(2_000, timeoutMs / 3));
    if (await this.waitForExit(start + timeoutMs / 3 - clock.now())) return;
    this.kill('SIGTERM');
    if (await this.waitForExit(start + (timeoutMs * 5) / 6 - clock.now())) return;
    this.kill('SIGKILL');
    await this.waitForExit(Math.max(1_000, start + timeoutMs - clock.now()));
  }
}

/** A warm standby gets the arguments (and the token) over IPC; null when it cannot take them. */
function handOver(standby: ChildProcess, args: string[], token: string): ChildProcess | null {
  try {
    standby.send({ type: 'run', argv: args, env: { [WORKER_TOKEN_ENV]: token } });
    return standby;
  } catch {
    standby.kill('SIGKILL');
    return null;
  }
}

function spawnFresh(options: WorkerProcessOptions): ChildProcess {
  const { command, args } = options.launcher(options.args);
  return spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...childEnv(process.env), ...options.env, [WORKER_TOKEN_ENV]: options.token },
  });
}

function tailLines(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-STDERR_TAIL_LINES).join('\n');
}
