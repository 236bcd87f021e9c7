/**
 * Recovery benchmark (issue 3, acceptance 8; runtime issue goal 6): a real hive supervising a real
 * worker on the tiny model (1 thread, ctx 256). Each run SIGKILLs the ready worker by pid and measures
 * the time until the hive reports it ready again, minus the backoff delay the policy actually
 * applied. Median of N (default 10). Two modes, each against its budget:
 *  - warm (the default): the restart gets a pre-started empty standby process, then loads the model
 *    (goal ≤ 600 ms beyond the backoff);
 *  - hot (WorkerSpec `hot_spare`): a second process has loaded the model already and takes over
 *    (goal ≤ 200 ms beyond the backoff).
 *
 * Standalone: `node --import tsx scripts/bench/recovery.ts` prints both as budget lines and JSON;
 * `benchRecovery()` returns one mode's figures.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { generateToken } from '../../src-main/auth/tokenFile.js';
import { createHive } from '../../src-main/hive/createHive.js';
import { ensureTinyModel } from '../../src-main/models/ensureTinyModel.js';

const RUNS = Number(process.env.BENCH_RECOVERY_RUNS ?? 10);
/** Recovery beyond the backoff, per mode (runtime issue goal 6). */
export const RECOVERY_GOAL_MS = { warm: 600, hot: 200 } as const;
export type RecoveryMode = keyof typeof RECOVERY_GOAL_MS;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface RecoveryFigures extends Record<string, number> {
  runs: number;
  /** SIGKILL → ready again, minus the applied backoff: the figure the goal (≤ 1000 ms) is about. */
  recovery_minus_backoff_ms_median: number;
  recovery_minus_backoff_ms_min: number;
  recovery_minus_backoff_ms_max: number;
  /** SIGKILL → the hive has seen the exit (crashed). */
  detect_ms_median: number;
  /** Backoff the policy applied (scheduled delay). */
  applied_backoff_ms_median: number;
  /** Spawn → ready (process start, node-llama-cpp init, model load). */
  spawn_to_ready_ms_median: number;
  /** Spawn → the worker's HTTP port is bound (process/module start-up; the rest is node-llama-cpp). */
  spawn_to_listening_ms_median: number;
  /** SIGKILL → ready, everything included. */
  total_ms_median: number;
  /** Hot mode: resident memory of the loaded spare (its cost), MiB; NaN in warm mode. */
  hot_spare_rss_mib: number;
}

export async function benchRecovery(runs = RUNS, mode: RecoveryMode = 'warm'): Promise<RecoveryFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'rbee-bench-recovery-'));
  const modelCache = join(tmpdir(), 'rbee-test-models', 'tiny-seed1.gguf');
  await ensureTinyModel(modelCache, { seed: 1 });
  await copyFile(modelCache, join(dir, 'tiny.gguf'));
  const hive = await createHive({
    modelsDir: dir,
    port: 0,
    token: generateToken(),
    gpu: false,
    defaultThreads: 1,
    logger: createLogger('hive', { level: 'silent' }),
    // Small backoff (it is subtracted anyway); limits high so ten kills in a row never give up.
    policy: { backoff_base_ms: 100, backoff_max_ms: 100, max_restarts: 1_000, breaker_failures: 1_000, stability_window_ms: 1_000 },
  });
  const events: ClusterEvent[] = [];
  const waiters = new Set<() => void>();
  const unsubscribe = hive.events.subscribe((e) => {
    events.push(e);
    for (const w of [...waiters]) w();
  });
  const waitForWorker = (from: number, predicate: (w: WorkerInfo) => boolean, timeoutMs = 60_000): Promise<{ worker: WorkerInfo; at: number }> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        for (const e of events.slice(from)) {
          if (e.type === 'worker_updated' && predicate(e.worker)) {
            cleanup();
            resolve({ worker: e.worker, at: e.at });
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error('timed out waiting for the worker'));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const recovery: number[] = [];
  const detect: number[] = [];
  const backoff: number[] = [];
  const spawnToReady: number[] = [];
  const spawnToListening: number[] = [];
  const total: number[] = [];
  let spareRss = Number.NaN;
  try {
    await hive.supervisor.spawn({ model: 'tiny.gguf', id: 'bench', device: 'cpu', slots: 1, threads: 1, ctx: 256, hot_spare: mode === 'hot' });
    let ready = (await waitForWorker(0, (w) => w.state === 'idle')).worker;
    for (let run = 0; run < runs + 1; run++) {
      // Let the attempt count reset (stability window) so every run gets the same nominal backoff, and
      // let the hive's warm standby be replaced: the steady state a real crash meets.
      await new Promise((r) => setTimeout(r, 1_100));
      const deadline = Date.now() + 30_000;
      while (hive.supervisor.readyStandbys < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Hot: the steady state is a spare that has loaded the model.
      while (mode === 'hot' && hive.supervisor.get('bench').info().hot_spare?.state !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const rss = hive.supervisor.get('bench').info().hot_spare?.rss_bytes;
      if (typeof rss === 'number') spareRss = rss / 2 ** 20;
      const from = events.length;
      const killedAt = Date.now();
      process.kill(ready.pid!, 'SIGKILL');
      const crashed = await waitForWorker(from, (w) => w.state === 'crashed');
      const scheduled = await waitForWorker(from, (w) => w.state === 'backoff');
      const spawned = await waitForWorker(from, (w) => w.state === 'loading' && w.pid !== ready.pid);
      const listening = await waitForWorker(from, (w) => w.state === 'loading' && w.pid !== ready.pid && w.port !== null);
      const again = await waitForWorker(from, (w) => w.state === 'idle' && w.pid !== ready.pid);
      ready = again.worker;
      if (run === 0) continue; // warm-up (file cache, tsx cache)
      const applied = scheduled.worker.next_restart_at! - scheduled.worker.last_exit!.at;
      total.push(again.at - killedAt);
      recovery.push(again.at - killedAt - applied);
      detect.push(crashed.at - killedAt);
      backoff.push(applied);
      spawnToReady.push(again.at - spawned.worker.started_at!);
      spawnToListening.push(listening.at - spawned.worker.started_at!);
    }
  } finally {
    unsubscribe();
    await hive.close();
    await rm(dir, { recursive: true, force: true });
  }
  return {
    runs,
    recovery_minus_backoff_ms_median: median(recovery),
    recovery_minus_backoff_ms_min: Math.min(...recovery),
    recovery_minus_backoff_ms_max: Math.max(...recovery),
    detect_ms_median: median(detect),
    applied_backoff_ms_median: median(backoff),
    spawn_to_ready_ms_median: median(spawnToReady),
    spawn_to_listening_ms_median: median(spawnToListening),
    total_ms_median: median(total),
    hot_spare_rss_mib: spareRss,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const results: Array<{ mode: RecoveryMode; goal_ms: number; figures: RecoveryFigures }> = [];
  for (const mode of ['warm', 'hot'] as const) results.push({ mode, goal_ms: RECOVERY_GOAL_MS[mode], figures: await benchRecovery(RUNS, mode) });
  for (const { mode, goal_ms, figures: f } of results) {
    const ratio = f.recovery_minus_backoff_ms_median / goal_ms;
    process.stdout.write(
      `  ${mode.padEnd(4)} recovery beyond backoff: p50 ${f.recovery_minus_backoff_ms_median.toFixed(0)} ms (min ${f.recovery_minus_backoff_ms_min.toFixed(0)}, max ${f.recovery_minus_backoff_ms_max.toFixed(0)}), ${ratio.toFixed(2)}× of the ${goal_ms} ms budget ${ratio <= 1 ? '(met)' : '(NOT met)'}\n`,
    );
  }
  const [warm, hot] = results.map((r) => r.figures);
  if (warm && hot) {
    process.stdout.write(`  hot / warm: ${(hot.recovery_minus_backoff_ms_median / warm.recovery_minus_backoff_ms_median).toFixed(3)}×; the hot spare costs ${hot.hot_spare_rss_mib.toFixed(0)} MiB RSS\n`);
  }
  process.stdout.write(`${JSON.stringify({ bench: 'hive_recovery', results }, null, 2)}\n`);
}
