/**
 * Broken-model benchmark (issue 11, acceptance 5): a real queen with its local hive, and a GGUF whose
 * tensors are all there but whose shape llama.cpp refuses. After the first failed load every request for it is
 * answered 503 MODEL_UNAVAILABLE; this measures how long a client waits for that answer (goal ≤ 50 ms
 * p50), against the same queen's `GET /health` round trip measured in the same run.
 *
 * Standalone: `node --import tsx scripts/bench/unavailable.ts`.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { ensureTinyModel } from '../../src-main/models/ensureTinyModel.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import { unloadableTinyModel } from '../../tests/helpers/tinyModel.js';
import { fmt, median, percentile } from './lib/stats.js';

const RUNS = Number(process.env.BENCH_UNAVAILABLE_RUNS ?? 200);
const TOKEN = 'bench-token-0123456789abcdef';

export async function benchUnavailable(runs = RUNS): Promise<Record<string, number>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rbee-bench-unavailable-'));
  const modelsDir = join(dataDir, 'models');
  await mkdir(modelsDir, { recursive: true });
  const modelCache = join(tmpdir(), 'rbee-test-models', 'tiny-seed1.gguf');
  await ensureTinyModel(modelCache, { seed: 1 });
  await copyFile(modelCache, join(modelsDir, 'tiny.gguf'));
  // Complete (the catalog serves it) but never loads; a truncated file would be held back by the
  // catalog as a copy still in progress (the on-demand tests use the same model).
  await writeFile(join(modelsDir, 'broken.gguf'), await unloadableTinyModel());
  const queen = await createQueen({
    dataDir,
    port: 0,
    apiToken: TOKEN,
    workerThreads: 1,
    workerPolicy: { backoff_base_ms: 200, breaker_failures: 3, breaker_cooldown_ms: 600_000 },
    logger: createLogger('queen', { level: 'silent' }),
  });
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ model: 'broken.gguf', prompt: 'hello', max_tokens: 4 });
  const ask = async (): Promise<{ status: number; code: string | undefined; ms: number }> => {
    const started = performance.now();
    const res = await fetch(`${queen.url}/v1/inference`, { method: 'POST', headers, body });
    const text = await res.text();
    const ms = performance.now() - started;
    return { status: res.status, code: res.status === 200 ? undefined : (JSON.parse(text) as { error: { code: string } }).error.code, ms };
  };
  try {
    // The hive's catalog arrives shortly after start; the first request then creates the worker and
    // waits for its (failing) load.
    const until = Date.now() + 60_000;
    let first = await ask();
    while (first.code !== 'MODEL_UNAVAILABLE' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      first = await ask();
    }
    if (first.code !== 'MODEL_UNAVAILABLE') throw new Error(`the broken model never became MODEL_UNAVAILABLE (last: ${first.status} ${first.code})`);

    const unavailable: number[] = [];
    const health: number[] = [];
    for (let i = 0; i < runs + 10; i++) {
      const h0 = performance.now();
      await (await fetch(`${queen.url}/health`)).text();
      const h = performance.now() - h0;
      const a = await ask();
      if (a.code !== 'MODEL_UNAVAILABLE') throw new Error(`expected 503 MODEL_UNAVAILABLE, got ${a.status} ${a.code}`);
      if (i < 10) continue; // warm-up
      health.push(h);
      unavailable.push(a.ms);
    }
    return {
      runs,
      first_answer_ms: first.ms,
      unavailable_ms_p50: median(unavailable),
      unavailable_ms_p95: percentile(unavailable, 95),
      health_ms_p50: median(health),
      ratio_p50_vs_health: median(unavailable) / median(health),
    };
  } finally {
    await queen.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await benchUnavailable();
  process.stdout.write(`${JSON.stringify({ bench: 'broken_model_503', goal_p50_ms: 50, ...figures }, null, 2)}\n`);
  process.stdout.write(`503 MODEL_UNAVAILABLE p50 ${fmt(figures.unavailable_ms_p50 ?? NaN)} ms (${fmt(figures.ratio_p50_vs_health ?? NaN)}× GET /health)\n`);
}
