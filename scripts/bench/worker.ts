/**
 * Worker benchmark (issue: foundation and worker): the tiny model with 1 thread, in-process
 * node-llama-cpp vs the same generation through the worker's HTTP/SSE, measured in one run.
 */
import { ModelRuntime } from '../../src-main/worker/ModelRuntime.js';
import { InferenceRequestSchema } from '../../src-shared/worker/inferenceWire.js';
import { startWorker } from '../../tests/helpers/startWorker.js';
import { tinyModelPath } from '../../tests/helpers/tinyModel.js';
import { fmt, median } from './lib/stats.js';
import { timedStream } from './lib/streamClient.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 12);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 256);

export async function benchWorker(): Promise<Record<string, number>> {
  const model = await tinyModelPath();
  const request = InferenceRequestSchema.parse({ prompt: 'The quick brown fox', max_tokens: TOKENS, ignore_eos: true, seed: 1 });

  // In-process baseline: the same ModelRuntime the worker uses, no HTTP.
  const runtime = await ModelRuntime.load({ modelPath: model, device: 'cpu', threads: 1, contextSize: 512, slots: 2 });
  const inProc = { tps: [] as number[], ttft: [] as number[] };
  for (let r = 0; r < RUNS + 2; r++) {
    const slot = runtime.acquireSlot()!;
    const started = performance.now();
    let first = Number.NaN;
    const result = await runtime.generate(slot, runtime.prepare(request), request, {
      signal: new AbortController().signal,
      onText: () => {
        if (Number.isNaN(first)) first = performance.now() - started;
      },
    });
    const total = performance.now() - started;
    runtime.releaseSlot(slot);
    if (r < 2) continue; // warm-up
    inProc.tps.push(result.tokensOut / (total / 1000));
    inProc.ttft.push(first);
  }
  await runtime.dispose();

  const worker = await startWorker({ slots: 2 });
  const viaHttp = { tps: [] as number[], ttft: [] as number[] };
  try {
    for (let r = 0; r < RUNS + 2; r++) {
      const t = await timedStream(worker.url, '/v1/inference', request, { authorization: `Bearer ${worker.token}` });
      if (r < 2) continue;
      viaHttp.tps.push(t.tokensOut / (t.totalMs / 1000));
      viaHttp.ttft.push(t.ttftMs);
    }
  } finally {
    await worker.stop();
  }

  const figures = {
    inprocess_tok_s: median(inProc.tps),
    worker_http_tok_s: median(viaHttp.tps),
    ratio_tok_s: median(viaHttp.tps) / median(inProc.tps),
    inprocess_ttft_p50_ms: median(inProc.ttft),
    worker_http_ttft_p50_ms: median(viaHttp.ttft),
  };
  console.log(`worker  (tiny model, 1 thread, ${TOKENS} tokens, median of ${RUNS})`);
  console.log(`  in-process          ${fmt(figures.inprocess_tok_s, 0)} tok/s   TTFT p50 ${fmt(figures.inprocess_ttft_p50_ms)} ms`);
  console.log(`  worker HTTP/SSE     ${fmt(figures.worker_http_tok_s, 0)} tok/s   TTFT p50 ${fmt(figures.worker_http_ttft_p50_ms)} ms`);
  console.log(`  ratio HTTP/in-proc  ${fmt(figures.ratio_tok_s, 3)}×`);
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchWorker();
