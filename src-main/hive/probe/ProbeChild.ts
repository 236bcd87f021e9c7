import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ProbeReplySchema, type ProbeReply, type ProbeRequest } from '../../../src-shared/hive/probeWire.js';
import { childEnv } from '../../common/process/childEnv.js';
import type { ProcessCommand } from '../../common/rbeeCommand.js';
import { ProbeError } from './ProbeError.js';

/** How to start a probe child: `rbeeCommand('probe', …)` in production; tests start broken ones. */
export type ProbeLaunch = Pick<ProcessCommand, 'command' | 'args' | 'env'>;

export interface ProbeChildOptions {
  /** Per request, from the moment it is written. */
  timeoutMs: number;
  /** Idle time after the last answer before stdin is closed (the child then exits by itself). */
  lingerMs: number;
}

interface Pending {
  resolve: (reply: ProbeReply) => void;
  reject: (error: ProbeError) => void;
  timer: NodeJS.Timeout;
}

const STDERR_TAIL = 2_000;

/**
 * One probe child process: requests go in as JSON lines on its stdin, answers come back on its
 * stdout. It lives while it has work, plus `lingerMs`; then its stdin is closed and it exits. Any
 * failure (exit, timeout, a line that is not an answer) ends this child and rejects every pending
 * request with a typed `ProbeError`: the next request starts a new child. Nothing here outlives the
 * process: timers and listeners belong to this launch only.
 */
export class ProbeChild {
  private readonly process: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderrTail = '';
  private lingerTimer: NodeJS.Timeout | null = null;
  private failure: ProbeError | null = null;
  private ending = false;
  /** Resolves once the process has exited (or never started). */
  readonly exited: Promise<void>;

  constructor(
    launch: ProbeLaunch,
    private readonly options: ProbeChildOptions,
  ) {
    this.process = spawn(launch.command, launch.args, {
      // The child needs no secret: no tokens in its environment.
      env: { ...childEnv(process.env), ...launch.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': it comes after stdout has been read to the end, so an answer written
      // just before the child exited is still delivered.
      this.process.once('close', (code, signal) => {
        this.fail(
          new ProbeError('crashed', `probe child exited (code ${code ?? 'none'}, signal ${signal ?? 'none'}) before answering${this.stderrSuffix()}`),
        );
        resolve();
      });
      this.process.once('error', (error) => {
        this.fail(new ProbeError('spawn_failed', `probe child could not start: ${error.message}`));
        // 'close' may not follow a failed spawn.
        if (this.process.pid === undefined) resolve();
      });
    });
    this.process.stdin?.on('error', () => undefined); // EPIPE after a crash: reported by 'exit'
    this.process.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    createInterface({ input: this.process.stdout!, crlfDelay: Infinity }).on('line', (line) => this.onLine(line));
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** False once this child is failing or winding down: send nothing more to it. */
  get accepting(): boolean {
    return this.failure === null && !this.ending;
  }

  send(request: Omit<ProbeRequest, 'id'>): Promise<ProbeReply> {
    if (!this.accepting) return Promise.reject(this.failure ?? new ProbeError('closed', 'probe child is exiting'));
    const id = this.nextId++;
    this.clearLinger();
    return new Promise<ProbeReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new ProbeError('timeout', `probe child gave no answer to '${request.kind}' within ${this.options.timeoutMs} ms${this.stderrSuffix()}`));
      }, this.options.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.process.stdin?.write(`${JSON.stringify({ ...request, id })}\n`);
    });
  }

  /** Closes stdin (the child exits); SIGKILL when it has not exited within `graceMs`. */
  async close(graceMs = 2_000): Promise<void> {
    this.ending = true;
    this.clearLinger();
    this.process.stdin?.end();
    const killer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(killer);
  }

  private onLine(line: string): void {
    if (this.failure) return;
    let reply: ProbeReply;
    try {
      reply = ProbeReplySchema.parse(JSON.parse(line));
    } catch {
      return this.fail(new ProbeError('garbage', `probe child wrote something that is not an answer: ${JSON.stringify(line.slice(0, 200))}${this.stderrSuffix()}`));
    }
    const pending = this.pending.get(reply.id);
    if (!pending) return this.fail(new ProbeError('garbage', `probe child answered request ${reply.id}, which nobody asked`));
    this.pending.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.kind === 'error') pending.reject(new ProbeError('failed', reply.message));
    else pending.resolve(reply);
    if (this.pending.size === 0 && !this.ending) {
      this.lingerTimer = setTimeout(() => void this.close(), this.options.lingerMs);
      this.lingerTimer.unref();
    }
  }

  /** The first failure wins: every pending request gets it, and the process is killed. */
  private fail(error: ProbeError): void {
    this.clearLinger();
    this.failure ??= error;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(this.failure);
    }
    this.pending.clear();
    this.kill();
  }

  private kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null && this.process.pid !== undefined) this.process.kill('SIGKILL');
  }

  private clearLinger(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
  }

  private stderrSuffix(): string {
    const tail = this.stderrTail.trim().split('\n').slice(-5).join(' | ');
    return tail ? `; stderr: ${tail.slice(-500)}` : '';
  }
}
