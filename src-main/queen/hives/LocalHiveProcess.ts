import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import { resolveRestartPolicy, type RestartPolicyConfig } from '../../../src-shared/policy/RestartPolicyConfig.js';
import { RestartTracker } from '../../../src-shared/policy/RestartTracker.js';
import type { Logger } from '../../common/log/createLogger.js';
import { rbeeCommand } from '../../common/rbeeCommand.js';

export interface LocalHiveProcessOptions {
  id: string;
  modelsDir: string;
  /** Defaults to 0 (ephemeral): the hive reports its port. */
  port?: number;
  /** Extra environment (audit mode/dir). */
  env?: Record<string, string>;
  /** Restart policy for the hive daemon itself (same policy hives apply to workers). */
  policy?: Partial<RestartPolicyConfig>;
  /** Passed to the hive as its worker restart policy. */
  workerPolicy?: Partial<RestartPolicyConfig>;
  /** Worker threads default for the hive. */
  threads?: number;
  audit: AuditSink;
  logger: Logger;
  /** A (re)started hive is listening. */
  onListening: (endpoint: { baseUrl: string; token: string; pid: number }) => void;
  /** The hive died or was given up on; `restartAt` is null when no restart will follow. */
  onDown: (info: { reason: string; restartAt: number | null; restartCount: number }) => void;
}

/**
 * The local hive daemon as a supervised child of the queen: started with its own token (environment,
 * never argv), restarted with the same backoff + breaker policy hives apply to workers, and stopped
 * with SIGTERM (the hive then runs its own graceful cascade for its workers).
 */
export class LocalHiveProcess {
  readonly token = randomBytes(24).toString('base64url');
  private child: ChildProcess | undefined;
  private readonly tracker: RestartTracker;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private restarts = 0;

  constructor(private readonly options: LocalHiveProcessOptions) {
    this.tracker = new RestartTracker(resolveRestartPolicy(options.policy ?? {}), { clock: Date, random: Math.random });
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get restartCount(): number {
    return this.restarts;
  }

  start(): void {
    const { options } = this;
    const args = ['--models-dir', options.modelsDir, '--id', options.id, '--port', String(options.port ?? 0), '--host', '127.0.0.1', '--exit-with-parent'];
    if (options.workerPolicy && Object.keys(options.workerPolicy).length > 0) args.push('--policy', JSON.stringify(options.workerPolicy));
    if (options.threads) args.push('--threads', String(options.threads));
    const launch = rbeeCommand('hive', args);
    const child = spawn(launch.command, launch.args, {
      env: { ...process.env, ...launch.env, ...options.env, RBEE_HIVE_TOKEN: this.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.tracker.recordStarted();
    let stderrTail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let message: { event?: string; port?: number };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return;
      }
      if (message.event === 'listening' && typeof message.port === 'number') {
        this.tracker.recordHealthy();
        options.onListening({ baseUrl: `http://127.0.0.1:${message.port}`, token: this.token, pid: child.pid! });
      }
    });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      const reason = `local hive exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`;
      options.logger.error({ code, signal, stderr: stderrTail.slice(-1000) }, 'local hive died');
      const { decision } = this.tracker.recordFailure();
      if (decision.kind === 'restart') {
        this.restarts++;
        options.onDown({ reason, restartAt: decision.restart_at, restartCount: this.restarts });
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined;
          if (!this.stopping) this.start();
        }, decision.delay_ms);
      } else {
        options.onDown({ reason: `${reason}; ${decision.kind === 'give_up' ? 'restart attempts used up' : 'circuit breaker open'}`, restartAt: null, restartCount: this.restarts });
      }
    });
  }

  /** SIGTERM; the hive stops its workers gracefully (≤ 30 s); SIGKILL if it overruns `timeoutMs`. */
  async stop(timeoutMs = 35_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
