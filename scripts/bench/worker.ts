/**
 * Worker benchmark (issue: foundation and worker): the tiny model with 1 thread, in-process
 * node-llama-cpp vs the same generation through the worker's HTTP/SSE, interleaved run by run after a
 * shared warm-up (generation speeds up over the first thousands of tokens of a process).
 * tok/s = streaming rate (tokens after the first / time from first to last token); TTFT separately.
 */
import { ModelRuntime } from '../../src-main/worker/ModelRuntime.js';
import { InferenceRequestSchema } from '../../src-shared/worker/inferenceWire.js';
import { startWorker } from '../../tests/helpers/startWorker.js';
import { tinyModelPath } from '../../tests/helpers/tinyModel.js';
import { inProcessRun, streamRate } from './lib/inProcess.js';
import { fmt, median } from './lib/stats.js';
import { timedStream } from './lib/streamClient.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 8);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 512);

export async function benchWorker(): Promise<void> {
  const model = await tinyModelPath();
  const body = { prompt: 'The quick brown fox', max_tokens: TOKENS, ignore_eos: true, seed: 1 };
  const request = InferenceRequestSchema.parse(body);
  const runtime = await ModelRuntime.load({ modelPath: model, device: 'cpu', threads: 1, contextSize: 1024, slots: 1 });
  const worker = await startWorker({ slots: 1 });
  const auth = { authorization: `Bearer ${worker.token}` };
  const inProc = { tps: [] as number[], ttft: [] as number[] };
  const viaHttp = { tps: [] as number[], ttft: [] as number[] };
  try {
    for (let r = 0; r < WARMUP + RUNS; r++) {
      const a = await inProcessRun(runtime, request);
      const b = await timedStream(worker.url, '/v1/inference', body, auth);
      if (r < WARMUP) continue;
      inProc.tps.push(streamRate(a));
      inProc.ttft.push(a.ttftMs);
      viaHttp.tps.push(streamRate(b));
      viaHttp.ttft.push(b.ttftMs);
    }
  } finally {
    await worker.stop();
    await runtime.dispose();
  }
  console.log(`worker  (tiny model, 1 thread, ${TOKENS} tokens, median of ${RUNS} interleaved runs after ${WARMUP} warm-up)`);
  console.log(`  in-process          ${fmt(median(inProc.tps), 0)} tok/s   TTFT p50 ${fmt(median(inProc.ttft))} ms`);
  console.log(`  worker HTTP/SSE     ${fmt(median(viaHttp.tps), 0)} tok/s   TTFT p50 ${fmt(median(viaHttp.ttft))} ms`);
  console.log(`  ratio HTTP/in-proc  ${fmt(median(viaHttp.tps) / median(inProc.tps), 3)}×   TTFT +${fmt(median(viaHttp.ttft) - median(inProc.ttft))} ms`);
}

if (import.meta.url === `file://${process.argv[1]}`) await benchWorker();
