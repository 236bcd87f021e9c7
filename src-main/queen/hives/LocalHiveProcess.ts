import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import { resolveRestartPolicy, type RestartPolicyConfig } from '../../../src-shared/policy/RestartPolicyConfig.js';
import type { Logger } from '../../common/log/createLogger.js';
import { rbeeCommand } from '../../common/rbeeCommand.js';
import { ChildSupervisor, type ChildStatus } from '../../common/supervision/ChildSupervisor.js';
import { childEnv } from '../../common/process/childEnv.js';

export interface LocalHiveProcessOptions {
  id: string;
  modelsDir: string;
  /** The hive's `--data-dir` (its worker logs go to `<data>/logs`). Defaults to the hive's own default. */
  dataDir?: string;
  /** Defaults to 0 (ephemeral): the hive reports its port. */
  port?: number;
  /** Extra environment (audit mode/dir). */
  env?: Record<string, string>;
  /** Restart policy for the hive daemon itself (same policy hives apply to workers). */
  policy?: Partial<RestartPolicyConfig>;
  /**
   * The worker restart policy to start the hive with, read at every start: a hive the queen restarts
   * gets the settings as they are then, not as they were when the queen started.
   */
  workerPolicy?: () => Partial<RestartPolicyConfig>;
  /** Worker threads default for the hive. */
  threads?: number;
  /** `--standby N`: warm worker processes; absent, the hive's default. */
  standby?: number;
  audit: AuditSink;
  logger: Logger;
  /** A (re)started hive is listening. */
  onListening: (endpoint: { baseUrl: string; token: string; pid: number }) => void;
  /** The hive died or was given up on; `restartAt` is null when no restart will follow (failed, or held by the breaker). */
  onDown: (info: { reason: string; restartAt: number | null; restartCount: number; status: ChildStatus }) => void;
  /** Every change of the supervision status (state, attempts, breaker). */
  onStatus?: (status: ChildStatus) => void;
}

/**
 * The local hive daemon as a supervised child of the queen: started with its own token (environment,
 * never argv), restarted by the shared supervision core (ChildSupervisor: the backoff, start limit
 * and breaker hives apply to workers, with attempts reset after the stability window and a half-open
 * trial after the cooldown), and stopped with SIGTERM (the hive then runs its own graceful cascade for
 * its workers).
 */
export class LocalHiveProcess {
  readonly token = randomBytes(24).toString('base64url');
  private child: ChildProcess | undefined;
  private readonly supervisor: ChildSupervisor;
  private stopping = false;

  constructor(private readonly options: LocalHiveProcessOptions) {
    this.supervisor = new ChildSupervisor(
      { id: options.id, start: () => this.spawnHive() },
      {
        policy: resolveRestartPolicy(options.policy ?? {}),
        onFailure: ({ reason, decision }) => {
          const restartAt = decision.kind === 'restart' ? decision.restart_at : null;
          const why =
            decision.kind === 'restart'
              ? reason
              : decision.kind === 'give_up'
                ? `${reason}; restart attempts used up`
                : `${reason}; circuit breaker open until ${new Date(decision.until).toISOString()}`;
          options.onDown({ reason: why, restartAt, restartCount: this.supervisor.status().restart_count, status: this.supervisor.status() });
        },
        onTransition: (transition) => options.logger.info({ hive: options.id, transition: transition.type }, 'local hive supervision'),
        // The same event vocabulary as the worker tier (started, ready, crashed, restart_scheduled, gave_up …).
        onEvent: (event) => options.logger.info({ hive: options.id, event: event.type, ...event }, 'local hive supervision'),
        onChange: (status) => options.onStatus?.(status),
      },
    );
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get restartCount(): number {
    return this.supervisor.status().restart_count;
  }

  status(): ChildStatus {
    return this.supervisor.status();
  }

  start(): void {
    this.stopping = false;
    this.supervisor.start();
  }

  /** Operator reset of the hive's breaker (a hive held by it starts now). */
  resetBreaker(): void {
    this.supervisor.resetBreaker();
  }

  /** One hive process; resolves once it listens, rejects if it exits before. */
  private spawnHive(): Promise<void> {
    const { options } = this;
    const args = ['--models-dir', options.modelsDir, '--id', options.id, '--port', String(options.port ?? 0), '--host', '127.0.0.1', '--exit-with-parent'];
    const workerPolicy = options.workerPolicy?.();
    if (workerPolicy && Object.keys(workerPolicy).length > 0) args.push('--policy', JSON.stringify(workerPolicy));
    if (options.threads) args.push('--threads', String(options.threads));
    if (options.standby !== undefined) args.push('--standby', String(options.standby));
    if (options.dataDir) args.push('--data-dir', options.dataDir);
    const launch = rbeeCommand('hive', args);
    const child = spawn(launch.command, launch.args, {
      env: { ...childEnv(process.env, ['HF_TOKEN']), ...launch.env, ...options.env, RBEE_HIVE_TOKEN: this.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let stderrTail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    });
    return new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let message: { event?: string; port?: number };
        try {
          message = JSON.parse(line) as typeof message;
        } catch {
          return;
        }
        if (message.event === 'listening' && typeof message.port === 'number') {
          options.onListening({ baseUrl: `http://127.0.0.1:${message.port}`, token: this.token, pid: child.pid! });
          resolve();
        }
      });
      child.once('error', (error) => reject(error));
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        const reason = `local hive exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`;
        reject(new Error(reason));
        if (this.stopping) return;
        options.logger.error({ code, signal, stderr: stderrTail.slice(-1000) }, 'local hive died');
        this.supervisor.exited(reason);
      });
    });
  }

  /** SIGTERM; the hive stops its workers gracefully (≤ 30 s); SIGKILL if it overruns `timeoutMs`. */
  async stop(timeoutMs = 35_000): Promise<void> {
    this.stopping = true;
    this.supervisor.stop();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
