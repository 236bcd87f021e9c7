/**
 * Queen benchmark (issue: the queen): the tiny model, 1 thread per worker, all measured in one run.
 *  - tok/s and TTFT in-process (node-llama-cpp via ModelRuntime), direct to a worker, through the queen
 *  - TTFT overhead of the queen hop (p50 through the queen minus p50 direct)
 *  - aggregate tok/s of 8 concurrent clients: 2 workers vs 1 worker
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { InferenceRequestSchema } from '../../src-shared/worker/inferenceWire.js';
import { ModelRuntime } from '../../src-main/worker/ModelRuntime.js';
import { startRbee } from '../../tests/helpers/childProcess.js';
import { startWorker } from '../../tests/helpers/startWorker.js';
import { tinyModelPath } from '../../tests/helpers/tinyModel.js';
import { fmt, median } from './lib/stats.js';
import { timedStream, type StreamTiming } from './lib/streamClient.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 12);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 256);
const TOKEN = 'bench-queen-token-0123456789';
const body = { prompt: 'The quick brown fox', max_tokens: TOKENS, ignore_eos: true, seed: 1 };

async function sequential(url: string, path: string, payload: object, headers: Record<string, string>): Promise<{ tps: number; ttft: number }> {
  const timings: StreamTiming[] = [];
  for (let r = 0; r < RUNS + 2; r++) {
    const t = await timedStream(url, path, payload, headers);
    if (r >= 2) timings.push(t);
  }
  return { tps: median(timings.map((t) => t.tokensOut / (t.totalMs / 1000))), ttft: median(timings.map((t) => t.ttftMs)) };
}

async function aggregate(url: string, clients: number, rounds: number): Promise<number> {
  const started = performance.now();
  let tokens = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let r = 0; r < rounds; r++) {
        const t = await timedStream(url, '/v1/inference', { ...body, model: 'tiny.gguf' }, { authorization: `Bearer ${TOKEN}` });
        tokens += t.tokensOut;
      }
    }),
  );
  return tokens / ((performance.now() - started) / 1000);
}

async function snapshot(url: string): Promise<ClusterSnapshot> {
  return (await fetch(`${url}/v1/control/snapshot`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as Promise<ClusterSnapshot>;
}

async function waitReady(url: string, count: number): Promise<void> {
  for (;;) {
    const s = await snapshot(url);
    if (s.workers.filter((w) => w.state === 'idle' || w.state === 'busy').length >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function spawnWorker(url: string, slots: number): Promise<string> {
  const res = await fetch(`${url}/v1/control/workers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ hive_id: 'local', model: 'tiny.gguf', slots, threads: 1, ctx: 512, device: 'cpu' }),
  });
  return ((await res.json()) as { id: string }).id;
}

export async function benchQueen(): Promise<void> {
  const model = await tinyModelPath();
  // 1. In-process baseline.
  const request = InferenceRequestSchema.parse(body);
  const runtime = await ModelRuntime.load({ modelPath: model, device: 'cpu', threads: 1, contextSize: 512, slots: 1 });
  const inProc = { tps: [] as number[], ttft: [] as number[] };
  for (let r = 0; r < RUNS + 2; r++) {
    const slot = runtime.acquireSlot()!;
    const t0 = performance.now();
    let first = Number.NaN;
    const result = await runtime.generate(slot, runtime.prepare(request), request, {
      signal: new AbortController().signal,
      onText: () => {
        if (Number.isNaN(first)) first = performance.now() - t0;
      },
    });
    const total = performance.now() - t0;
    runtime.releaseSlot(slot);
    if (r < 2) continue;
    inProc.tps.push(result.tokensOut / (total / 1000));
    inProc.ttft.push(first);
  }
  await runtime.dispose();

  // 2. Direct to a standalone worker.
  const worker = await startWorker({ slots: 1 });
  const direct = await sequential(worker.url, '/v1/inference', body, { authorization: `Bearer ${worker.token}` });
  await worker.stop();

  // 3. Through a real `rbee queen` process (local hive child, worker grandchild).
  const dataDir = mkdtempSync(join(tmpdir(), 'rbee-bench-queen-'));
  mkdirSync(join(dataDir, 'models'), { recursive: true });
  copyFileSync(model, join(dataDir, 'models', 'tiny.gguf'));
  const queen = startRbee('queen', ['--port', '0', '--data-dir', dataDir, '--audit', 'disabled'], { LLORCH_API_TOKEN: TOKEN, RBEE_LOG_LEVEL: 'warn' });
  try {
    const { url } = await queen.waitForLine<{ url: string }>((l) => l.event === 'listening');
    for (;;) {
      const s = await snapshot(url);
      if (s.hives.some((h) => h.state === 'online') && s.models.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await spawnWorker(url, 4);
    await waitReady(url, 1);
    const viaQueen = await sequential(url, '/v1/inference', { ...body, model: 'tiny.gguf' }, { authorization: `Bearer ${TOKEN}` });
    const oneWorker = await aggregate(url, 8, 3);
    await spawnWorker(url, 4);
    await waitReady(url, 2);
    const twoWorkers = await aggregate(url, 8, 3);

    const base = median(inProc.tps);
    console.log(`queen   (tiny model, 1 thread per worker, ${TOKENS} tokens, median of ${RUNS})`);
    console.log(`  in-process            ${fmt(base, 0)} tok/s   TTFT p50 ${fmt(median(inProc.ttft), 2)} ms`);
    console.log(`  direct worker         ${fmt(direct.tps, 0)} tok/s   TTFT p50 ${fmt(direct.ttft, 2)} ms   ratio ${fmt(direct.tps / base, 3)}×`);
    console.log(`  through the queen     ${fmt(viaQueen.tps, 0)} tok/s   TTFT p50 ${fmt(viaQueen.ttft, 2)} ms   ratio ${fmt(viaQueen.tps / base, 3)}× (goal ≥ 0.98×)`);
    console.log(`  queen hop TTFT overhead p50  ${fmt(viaQueen.ttft - direct.ttft, 2)} ms (goal ≤ 0.5 ms)`);
    console.log(`  8 clients, 1 worker   ${fmt(oneWorker, 0)} tok/s aggregate`);
    console.log(`  8 clients, 2 workers  ${fmt(twoWorkers, 0)} tok/s aggregate   ratio ${fmt(twoWorkers / oneWorker, 2)}× (2 cores shared by clients, queen, hive, workers)`);
  } finally {
    await queen.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchQueen();
