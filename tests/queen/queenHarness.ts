import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import { createQueen, type CreateQueenOptions } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { waitFor } from '../helpers/waitFor.js';

export const MODEL = 'tiny.gguf';

export interface TestQueen {
  queen: Queen;
  token: string;
  url: string;
  dataDir: string;
  auth: Record<string, string>;
  /** Resolves with the snapshot once `predicate` holds (driven by the queen's own event stream). */
  waitFor(predicate: (snapshot: ClusterSnapshot) => boolean, timeoutMs?: number): Promise<ClusterSnapshot>;
  spawn(options?: { slots?: number; model?: string; ctx?: number }): Promise<WorkerInfo>;
  readyWorkers(model?: string): WorkerInfo[];
  close(): Promise<void>;
}

/** A real queen in-process with a real local hive child and real workers on the tiny model. */
export async function startTestQueen(
  options: {
    workerPolicy?: Partial<RestartPolicyConfig>;
    extra?: Partial<CreateQueenOptions>;
    models?: string[];
    /** Writes more files into the models folder before the queen starts. */
    prepareModels?: (modelsDir: string) => Promise<void>;
    /** The tiny models' trained context (default 512); longer prompts (tools) need more. */
    contextLength?: number;
  } = {},
): Promise<TestQueen> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rbee-queen-'));
  mkdirSync(join(dataDir, 'models'), { recursive: true });
  for (const name of options.models ?? [MODEL]) copyFileSync(await tinyModelPath(1, options.contextLength), join(dataDir, 'models', name));
  await options.prepareModels?.(join(dataDir, 'models'));
  const token = 'queen-test-token-0123456789';
  const queen = await createQueen({
    dataDir,
    port: 0,
    apiToken: token,
    workerThreads: 1,
    workerPolicy: { backoff_base_ms: 200, ...options.workerPolicy },
    logger: createLogger('queen', { level: 'warn' }),
    ...options.extra,
  });
  let latest: ClusterSnapshot = await queen.control.getSnapshot();
  const waiters = new Set<() => void>();
  const unsubscribe = queen.control.subscribe(() => {
    void queen.control.getSnapshot().then((s) => {
      latest = s;
      for (const w of [...waiters]) w();
    });
  });
  const waitForSnapshot = (predicate: (snapshot: ClusterSnapshot) => boolean, timeoutMs = 30_000): Promise<ClusterSnapshot> =>
    waitFor(() => latest, predicate, {
      timeoutMs,
      onChange: (recheck) => {
        waiters.add(recheck);
        return () => waiters.delete(recheck);
      },
    });
  // Generous: on a loaded machine the hive's start (bundle, llama binding) can take tens of seconds.
  await waitForSnapshot((s) => s.hives.some((h) => h.id === 'local' && h.state === 'online') && s.models.length > 0, 90_000);
  const ready = (w: WorkerInfo): boolean => w.state === 'idle' || w.state === 'busy';
  return {
    queen,
    token,
    url: queen.url,
    dataDir,
    auth: { authorization: `Bearer ${token}` },
    waitFor: waitForSnapshot,
    readyWorkers: (model = MODEL) => latest.workers.filter((w) => w.model === model && ready(w)),
    async spawn(spawnOptions = {}) {
      const info = await queen.control.spawnWorker({ hive_id: 'local', model: spawnOptions.model ?? MODEL, slots: spawnOptions.slots ?? 2, threads: 1, ctx: spawnOptions.ctx ?? 512, device: 'cpu' });
      await waitForSnapshot((s) => s.workers.some((w) => w.id === info.id && ready(w)));
      return info;
    },
    async close() {
      unsubscribe();
      await queen.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
