import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import { SseParser } from '../../src-shared/util/SseParser.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createHive, type HiveOptions } from '../../src-main/hive/createHive.js';
import type { Hive } from '../../src-main/hive/Hive.js';
import { createRecordingAuditSink, type RecordingAuditSink } from '../helpers/recordingAuditSink.js';
import { tinyModelPath } from '../helpers/tinyModel.js';

export const HIVE_TOKEN = 'test-hive-token-0123456789';
export const TINY = 'tiny.gguf';

/** Short numbers so failures show within seconds (acceptance tests override what they measure). */
export const FAST_POLICY: Partial<RestartPolicyConfig> = {
  backoff_base_ms: 200,
  backoff_max_ms: 2_000,
  health_period_ms: 500,
  load_timeout_ms: 30_000,
};

/** A temp models folder holding the tiny model as `tiny.gguf`. */
export async function makeModelsDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'rbee-hive-models-'));
  await copyFile(await tinyModelPath(), join(dir, TINY));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface TestHive {
  hive: Hive;
  audit: RecordingAuditSink;
  modelsDir: string;
  api<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T }>;
  /** Closes the hive (stopping every worker) and removes the models folder. */
  close(): Promise<void>;
}

export async function startTestHive(options: Partial<HiveOptions> = {}): Promise<TestHive> {
  const models = await makeModelsDir();
  const audit = createRecordingAuditSink();
  const hive = await createHive({
    modelsDir: models.dir,
    port: 0,
    token: HIVE_TOKEN,
    gpu: false,
    defaultThreads: 1,
    audit,
    logger: createLogger('hive', { level: process.env.RBEE_TEST_LOG ?? 'silent' }),
    ...options,
    policy: { ...FAST_POLICY, ...options.policy },
  });
  return {
    hive,
    audit,
    modelsDir: models.dir,
    api: (method, path, body, headers) => api(hive.url, method, path, body, headers),
    close: async () => {
      await hive.close();
      await models.cleanup();
    },
  };
}

export async function api<T = unknown>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${HIVE_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (metrics)
  }
  return { status: res.status, body: parsed as T };
}

/** Spawn body for the tiny model: 1 thread, small context, CPU. */
export function tinySpawn(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: TINY, device: 'cpu', slots: 1, threads: 1, ctx: 256, ...extra };
}

/**
 * Reads `/v1/events` over real HTTP and keeps every ClusterEvent; `waitFor` resolves on the first
 * (already received or future) event matching the predicate.
 */
export class EventStream {
  readonly events: ClusterEvent[] = [];
  private readonly abort = new AbortController();
  private readonly waiters = new Set<() => void>();
  private failure: Error | null = null;
  readonly opened: Promise<void>;

  constructor(base: string, token = HIVE_TOKEN) {
    this.opened = this.read(base, token);
    this.opened.catch(() => undefined);
  }

  private async read(base: string, token: string): Promise<void> {
    const res = await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: this.abort.signal });
    if (res.status !== 200) throw new Error(`events: HTTP ${res.status}`);
    void (async () => {
      const decoder = new TextDecoder();
      const parser = new SseParser();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
            this.events.push(JSON.parse(message.data) as ClusterEvent);
            for (const w of [...this.waiters]) w();
          }
        }
      } catch (error) {
        if (!this.abort.signal.aborted) this.failure = error as Error;
      }
      for (const w of [...this.waiters]) w();
    })();
  }

  /** Worker states in arrival order (consecutive duplicates collapsed). */
  states(workerId: string): string[] {
    const out: string[] = [];
    for (const e of this.events) {
      if (e.type === 'worker_updated' && e.worker.id === workerId && out[out.length - 1] !== e.worker.state) out.push(e.worker.state);
    }
    return out;
  }

  workerUpdates(workerId: string): WorkerInfo[] {
    return this.events.flatMap((e) => (e.type === 'worker_updated' && e.worker.id === workerId ? [e.worker] : []));
  }

  waitFor<T extends ClusterEvent>(predicate: (e: ClusterEvent) => boolean, timeoutMs = 30_000, from = 0): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.events.slice(from).find(predicate);
        if (found) {
          finish();
          resolve(found as T);
        } else if (this.failure) {
          finish();
          reject(this.failure);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for an event; last events:\n${this.events.slice(-8).map((e) => JSON.stringify(e).slice(0, 300)).join('\n')}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for a worker_updated of `workerId` in `state` (optionally matching more), after index `from`. */
  waitForWorker(workerId: string, predicate: (w: WorkerInfo) => boolean, timeoutMs = 30_000, from = 0): Promise<WorkerInfo> {
    return this.waitFor<Extract<ClusterEvent, { type: 'worker_updated' }>>(
      (e) => e.type === 'worker_updated' && e.worker.id === workerId && predicate(e.worker),
      timeoutMs,
      from,
    ).then((e) => e.worker);
  }

  close(): void {
    this.abort.abort();
  }
}

/** Replaces a model file atomically (a running worker keeps its old inode; no SIGBUS). */
export async function swapModel(dir: string, name: string, content: 'good' | 'corrupt'): Promise<void> {
  const { readFile, writeFile, rename } = await import('node:fs/promises');
  const good = await readFile(await tinyModelPath());
  // Corrupt: a valid GGUF header start, then the file ends — node-llama-cpp fails to load it.
  const bytes = content === 'good' ? good : good.subarray(0, 4096);
  const tmp = join(dir, `.${name}.swap`);
  await writeFile(tmp, bytes);
  await rename(tmp, join(dir, name));
}

export { childPidsOf, isAlive, waitForPidGone } from '../helpers/processTree.js';

/**
 * One hive per test with its event stream, for suites that start from a ready worker. Register
 * `afterEach(() => context.close())`; `t` and `events` throw when used before `readyWorker`.
 */
export class HiveTestContext {
  private hive: TestHive | undefined;
  private stream: EventStream | undefined;

  get t(): TestHive {
    if (!this.hive) throw new Error('no hive started in this test');
    return this.hive;
  }

  get events(): EventStream {
    if (!this.stream) throw new Error('no event stream opened in this test');
    return this.stream;
  }

  /** Starts a hive and follows its events (for tests that spawn in their own way). */
  async start(options: Parameters<typeof startTestHive>[0]): Promise<TestHive> {
    this.hive = await startTestHive(options);
    this.stream = new EventStream(this.hive.hive.url);
    await this.stream.opened;
    return this.hive;
  }

  /** Starts a hive, follows its events, spawns one tiny worker and resolves once it is idle. */
  async readyWorker(options: Parameters<typeof startTestHive>[0], spawn: Record<string, unknown>): Promise<WorkerInfo> {
    const hive = await this.start(options);
    const res = await hive.api<WorkerInfo>('POST', '/v1/workers', tinySpawn(spawn));
    if (res.status !== 201) throw new Error(`spawn answered ${res.status}`);
    return this.events.waitForWorker(String(spawn.id), (w) => w.state === 'idle');
  }

  /** How many times the hive started worker `id` (its audit trail). */
  spawnsOf(id: string): number {
    return this.t.audit.events.filter((e) => e.worker_id === id && e.event_type === 'worker_spawned').length;
  }

  async close(): Promise<void> {
    this.stream?.close();
    await this.hive?.close();
    this.hive = undefined;
    this.stream = undefined;
  }
}
