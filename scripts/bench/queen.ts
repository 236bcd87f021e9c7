/**
 * Queen benchmark (issue: the queen): the tiny model, 1 thread per worker, all measured in one run.
 *  - tok/s and TTFT in-process (node-llama-cpp via ModelRuntime), direct to a worker, through the queen
 *    on the native route and on the OpenAI chat route (streaming), with the queen's CPU per token
 *  - TTFT overhead of the queen hop (p50 through the queen minus p50 direct)
 *  - aggregate tok/s of 8 concurrent clients: 2 workers vs 1 worker
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { InferenceRequestSchema } from '../../src-shared/worker/inferenceWire.js';
import { ModelRuntime } from '../../src-main/worker/ModelRuntime.js';
import { startRbee } from '../../tests/helpers/childProcess.js';
import { startWorker } from '../../tests/helpers/startWorker.js';
import { tinyModelPath } from '../../tests/helpers/tinyModel.js';
import { inProcessRun, streamRate } from './lib/inProcess.js';
import { fmt, median } from './lib/stats.js';
import { timedChatStream, timedStream } from './lib/streamClient.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 8);
/**
 * Requests through the queen alone before the measured runs: its relay code is still being compiled
 * by V8 over its first few thousand chunks (measured: ~26 µs of queen CPU per token over the first 40
 * requests, ~16 once warm), and a serving queen is warm.
 */
const QUEEN_WARMUP = Number(process.env.BENCH_QUEEN_WARMUP ?? 40);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 512);
const TOKEN = 'bench-queen-token-0123456789';
const body = { prompt: 'The quick brown fox', max_tokens: TOKENS, ignore_eos: true, seed: 1 };
const chatBody = { model: 'tiny.gguf', messages: [{ role: 'user', content: 'The quick brown fox' }], max_tokens: TOKENS, ignore_eos: true, seed: 1 };

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

/** CPU time (user + system) a process has used, in ms (Linux /proc; NaN elsewhere). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks at USER_HZ = 100
  } catch {
    return Number.NaN;
  }
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
  const request = InferenceRequestSchema.parse(body);
  const runtime = await ModelRuntime.load({ modelPath: model, device: 'cpu', threads: 1, contextSize: 1024, slots: 1 });
  const worker = await startWorker({ slots: 1 });
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
    // One slot, like the direct worker: the comparison is about the hop, not the batch size.
    await spawnWorker(url, 1);
    await waitReady(url, 1);

    const auth = { authorization: `Bearer ${TOKEN}` };
    for (let r = 0; r < QUEEN_WARMUP; r++) {
      await (r % 2 === 0 ? timedStream(url, '/v1/inference', { ...body, model: 'tiny.gguf' }, auth) : timedChatStream(url, chatBody, auth));
    }
    // Interleaved after a shared warm-up: in-process, direct to a worker, through the queen (native
    // route, then the OpenAI chat route).
    type Row = { tps: number; ttft: number };
    const rows: Record<'inProc' | 'direct' | 'queen' | 'chat', Row[]> = { inProc: [], direct: [], queen: [], chat: [] };
    const cpu = { queen: { ms: 0, tokens: 0 }, chat: { ms: 0, tokens: 0 } };
    for (let r = 0; r < WARMUP + RUNS; r++) {
      const a = await inProcessRun(runtime, request);
      const b = await timedStream(worker.url, '/v1/inference', body, { authorization: `Bearer ${worker.token}` });
      const cpuBefore = cpuMs(queen.pid);
      const c = await timedStream(url, '/v1/inference', { ...body, model: 'tiny.gguf' }, auth);
      const cpuBetween = cpuMs(queen.pid);
      const d = await timedChatStream(url, chatBody, auth);
      if (r < WARMUP) continue;
      cpu.queen.ms += cpuBetween - cpuBefore;
      cpu.queen.tokens += c.tokensOut;
      cpu.chat.ms += cpuMs(queen.pid) - cpuBetween;
      cpu.chat.tokens += d.tokensOut;
      rows.inProc.push({ tps: streamRate(a), ttft: a.ttftMs });
      rows.direct.push({ tps: streamRate(b), ttft: b.ttftMs });
      rows.queen.push({ tps: streamRate(c), ttft: c.ttftMs });
      rows.chat.push({ tps: streamRate(d), ttft: d.ttftMs });
    }
    await worker.stop();
    await runtime.dispose();
    const oneWorker = await aggregate(url, 8, 3);
    await spawnWorker(url, 1);
    await waitReady(url, 2);
    const twoWorkers = await aggregate(url, 8, 3);

    const tps = (k: keyof typeof rows): number => median(rows[k].map((x) => x.tps));
    const ttft = (k: keyof typeof rows): number => median(rows[k].map((x) => x.ttft));
    const base = tps('inProc');
    console.log(`queen   (tiny model, 1 thread per worker, ${TOKENS} tokens, median of ${RUNS} interleaved runs after ${WARMUP} warm-up, queen warmed by ${QUEEN_WARMUP} requests)`);
    console.log(`  in-process            ${fmt(base, 0)} tok/s   TTFT p50 ${fmt(ttft('inProc'))} ms`);
    console.log(`  direct worker         ${fmt(tps('direct'), 0)} tok/s   TTFT p50 ${fmt(ttft('direct'))} ms   ratio ${fmt(tps('direct') / base, 3)}×`);
    console.log(`  through the queen     ${fmt(tps('queen'), 0)} tok/s   TTFT p50 ${fmt(ttft('queen'))} ms   ratio ${fmt(tps('queen') / base, 3)}× (goal ≥ 0.98×)`);
    console.log(`  OpenAI chat, queen    ${fmt(tps('chat'), 0)} tok/s   TTFT p50 ${fmt(ttft('chat'))} ms   ratio ${fmt(tps('chat') / base, 3)}× (goal ≥ 0.98×)`);
    // The chat route's TTFT also holds the chat template's longer prompt: the hop is measured natively.
    console.log(`  queen hop TTFT overhead p50  ${fmt(ttft('queen') - ttft('direct'))} ms (native route; goal ≤ 2 ms, moonshot ≤ 0.5 ms)`);
    console.log(`  queen process CPU while relaying  ${fmt((cpu.queen.ms * 1000) / cpu.queen.tokens, 1)} µs per token native, ${fmt((cpu.chat.ms * 1000) / cpu.chat.tokens, 1)} µs chat`);
    console.log(`  8 clients, 1 worker (1 slot)    ${fmt(oneWorker, 0)} tok/s aggregate`);
    console.log(`  8 clients, 2 workers (1 slot)   ${fmt(twoWorkers, 0)} tok/s aggregate   ratio ${fmt(twoWorkers / oneWorker, 2)}× (2 cores shared by clients, queen, hive, workers)`);
  } finally {
    await worker.stop();
    await queen.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchQueen();
