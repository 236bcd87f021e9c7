import { watch, type FSWatcher } from 'node:fs';

export interface ModelFolderWatcherOptions {
  /** Coalesces a burst of file-system events (a copy writes many times) into one rescan. Defaults to 100 ms. */
  debounceMs?: number;
  /** Safety-net rescan period, for file systems where fs.watch misses events (NFS, some FUSE). Defaults to 5 s. */
  rescanMs?: number;
  /** While files are pending (being copied), look again this often. Defaults to 250 ms. */
  pendingRescanMs?: number;
  /** Called when watching fails (the folder vanished); rescans go on and watching is retried. */
  onWatchError?: (error: unknown) => void;
}

/**
 * Keeps a models folder's listing fresh: `fs.watch` for prompt changes, a periodic rescan as a safety
 * net, and a short re-look while some file is still being written. `rescan` is the catalog refresh; it
 * returns how many files are pending so the watcher knows to look again soon. Rescans never overlap:
 * one requested during a running one runs right after it.
 */
export class ModelFolderWatcher {
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private periodic: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private disposed = false;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly pendingRescanMs: number;

  constructor(
    private readonly dir: string,
    private readonly rescan: () => Promise<{ pending: number }>,
    private readonly options: ModelFolderWatcherOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 100;
    this.rescanMs = options.rescanMs ?? 5_000;
    this.pendingRescanMs = options.pendingRescanMs ?? 250;
  }

  start(): void {
    this.watchFolder();
    this.schedule(this.rescanMs);
  }

  /** Asks for a rescan soon (coalesced with file-system events). */
  poke(): void {
    if (this.disposed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.run();
    }, this.debounceMs);
    this.debounce.unref();
  }

  dispose(): void {
    this.disposed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.periodic) clearTimeout(this.periodic);
  }

  private watchFolder(): void {
    if (this.watcher || this.disposed) return;
    try {
      const watcher = watch(this.dir, { persistent: false }, () => this.poke());
      watcher.on('error', (error) => {
        this.options.onWatchError?.(error);
        watcher.close();
        if (this.watcher === watcher) this.watcher = null;
      });
      this.watcher = watcher;
    } catch (error) {
      this.options.onWatchError?.(error);
    }
  }

  private schedule(delayMs: number): void {
    if (this.disposed) return;
    if (this.periodic) clearTimeout(this.periodic);
    this.periodic = setTimeout(() => void this.run(), delayMs);
    this.periodic.unref();
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    let pending = 0;
    this.running = (async () => {
      do {
        this.again = false;
        try {
          pending = (await this.rescan()).pending;
        } catch {
          // A failed scan (folder briefly missing) is retried by the next one.
        }
      } while (this.again && !this.disposed);
    })();
    try {
      await this.running;
    } finally {
      this.running = null;
    }
    this.watchFolder();
    this.schedule(pending > 0 ? this.pendingRescanMs : this.rescanMs);
  }
}
