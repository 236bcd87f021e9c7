import type { HotSpareInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { Logger } from '../common/log/createLogger.js';
import type { WorkerProcess, WorkerProcessHandlers } from './WorkerProcess.js';

export interface HotSpareOptions {
  workerId: string;
  /** Starts a spare: the worker's own arguments and token, on a socket path the worker is not using. */
  launch(handlers: WorkerProcessHandlers): WorkerProcess;
  /** Something `info()` shows changed. */
  onChange(): void;
  logger: Logger;
}

/** A spare that died is replaced after this long; after this many deaths in a row, no more until one is ready. */
const RETRY_DELAY_MS = 5_000;
const MAX_FAILURES = 3;
/** A dropped spare gets SIGTERM, then SIGKILL after this long. */
const DROP_GRACE_MS = 2_000;

/**
 * The hot spare of one worker (WorkerSpec `hot_spare`): a second worker process, with the same
 * arguments and token, that has already loaded the model and waits unseen (nobody is told its
 * port). When the worker's process dies, the next start takes the spare instead of spawning: the
 * recovery costs the policy's backoff and a hand-over, not a process start and a model load (the
 * warm standby of WorkerStandbyPool saves only the process start). It costs a second copy of the
 * model in memory, shown as `hot_spare.rss_bytes` in the worker's info.
 */
export class HotSpare {
  private spare: WorkerProcess | null = null;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private rss: number | null = null;
  private closed = false;

  constructor(private readonly options: HotSpareOptions) {}

  /** The spare's process while there is one (loading or ready). */
  get process(): WorkerProcess | null {
    return this.spare;
  }

  /** Starts a spare after `delayMs` (it should not compete with the worker's own start) unless one exists. */
  prepare(delayMs: number): void {
    if (this.closed || this.spare || this.timer || this.failures >= MAX_FAILURES) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.launch();
    }, delayMs);
    this.timer.unref();
  }

  /** The ready spare, handed over (the caller rebinds its handlers); null when none has loaded. */
  take(): WorkerProcess | null {
    const spare = this.spare;
    if (!spare || !spare.alive || spare.readyInfo === null) return null;
    this.spare = null;
    this.rss = null;
    return spare;
  }

  /** Ends the spare (the worker is stopping); none is started until `prepare` again. */
  drop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.failures = 0;
    const spare = this.spare;
    if (!spare) return;
    this.spare = null;
    this.rss = null;
    const kill = setTimeout(() => spare.kill('SIGKILL'), DROP_GRACE_MS);
    kill.unref();
    spare.rebind({ onChange: () => undefined, onReady: () => undefined, onExit: () => clearTimeout(kill) });
    spare.kill('SIGTERM');
    this.options.onChange();
  }

  /** SIGKILL at once and never again (the worker is disposed). */
  dispose(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.spare?.kill('SIGKILL');
    this.spare = null;
  }

  /** Samples the spare's resident memory (cheap: one /proc read). */
  sampleMemory(): void {
    if (this.spare) this.rss = this.spare.rssBytes();
  }

  info(): HotSpareInfo | null {
    const spare = this.spare;
    if (!spare) return null;
    return { pid: spare.pid, state: spare.readyInfo ? 'ready' : 'loading', rss_bytes: this.rss };
  }

  private launch(): void {
    if (this.closed || this.spare) return;
    const spare: WorkerProcess = this.options.launch({
      onChange: () => undefined,
      onReady: () => {
        if (this.spare !== spare) return;
        this.failures = 0;
        this.sampleMemory();
        this.options.logger.info({ worker_id: this.options.workerId, pid: spare.pid, rss_bytes: this.rss }, 'hot spare ready');
        this.options.onChange();
      },
      onExit: (exit) => {
        if (this.spare !== spare) return;
        this.spare = null;
        this.rss = null;
        this.failures += 1;
        this.options.logger.warn({ worker_id: this.options.workerId, code: exit.code, signal: exit.signal, stderr: exit.stderrTail }, 'hot spare exited');
        this.options.onChange();
        this.prepare(RETRY_DELAY_MS);
      },
    });
    this.spare = spare;
    this.options.onChange();
  }
}
