/**
 * Pools benchmark (issue: scale-out onto real engines): what the extra hop costs when the queen puts an
 * external OpenAI-compatible engine behind its front door. The engine is a second rbee queen with one
 * 1-slot worker on the endless tiny model (greedy answers run to max_tokens, so every stream has the
 * same length). Interleaved in one run:
 *  - direct: the OpenAI SDK's streaming chat route on the engine itself;
 *  - through the pool: the same request to the front queen, model `up/<name>`.
 *  - through a bare relay: the same request through `lib/bareRelay.mjs`, a Node HTTP hop that pipes
 *    bytes and does nothing else. It is the floor any Node hop pays on this machine (HTTP server and
 *    client, the kernel's loopback, one more process on the same cores); the pool hop minus it is
 *    what the queen's own work costs.
 * Printed as the tok/s ratio (goal ≥ 0.98×) and the first-byte overhead p50 (goal ≤ 1 ms), each next
 * to the bare relay's.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { startProcessIn, startRbee, type RbeeProcess } from '../../tests/helpers/childProcess.js';
import { endlessTinyModelPath } from '../../tests/helpers/tinyModel.js';
import { fmt, median, percentile } from './lib/stats.js';
import { timedChatStream, type StreamTiming } from './lib/streamClient.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 6);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 256);
const TOKEN = 'bench-pools-token-0123456789';
const MODEL = 'tiny.gguf';
const auth = { authorization: `Bearer ${TOKEN}` };

async function startQueen(dataDir: string, extra: string[]): Promise<{ proc: RbeeProcess; url: string }> {
  const proc = startRbee('queen', ['--port', '0', '--data-dir', dataDir, '--audit', 'disabled', ...extra], { LLORCH_API_TOKEN: TOKEN, RBEE_LOG_LEVEL: 'warn' });
  const { url } = await proc.waitForLine<{ url: string }>((l) => l.event === 'listening');
  return { proc, url };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  while (!(await check().catch(() => false))) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const snapshot = async (url: string): Promise<ClusterSnapshot> => (await fetch(`${url}/v1/control/snapshot`, { headers: auth })).json() as Promise<ClusterSnapshot>;

export async function benchPools(): Promise<void> {
  const engineDir = mkdtempSync(join(tmpdir(), 'rbee-bench-engine-'));
  const frontDir = mkdtempSync(join(tmpdir(), 'rbee-bench-front-'));
  mkdirSync(join(engineDir, 'models'), { recursive: true });
  copyFileSync(await endlessTinyModelPath(), join(engineDir, 'models', MODEL));
  const engine = await startQueen(engineDir, []);
  const front = await startQueen(frontDir, ['--no-local-hive']);
  const relay = startProcessIn(process.cwd(), process.execPath, [join(import.meta.dirname, 'lib', 'bareRelay.mjs'), engine.url]);
  try {
    const { url: relayUrl } = await relay.waitForLine<{ url: string }>((l) => l.event === 'listening');
    await until(async () => (await snapshot(engine.url)).models.some((m) => m.name === MODEL), 'engine catalog');
    const spawned = await fetch(`${engine.url}/v1/control/workers`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ hive_id: 'local', model: MODEL, slots: 1, threads: 1, ctx: 1024, device: 'cpu' }),
    });
    if (!spawned.ok) throw new Error(`spawn: ${spawned.status} ${await spawned.text()}`);
    await until(async () => (await snapshot(engine.url)).workers.some((w) => w.model === MODEL && (w.state === 'idle' || w.state === 'busy')), 'engine worker ready');
    const added = await fetch(`${front.url}/v1/control/pools`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'up', base_url: `${engine.url}/v1`, api_key: TOKEN, models: [MODEL] }),
    });
    if (!added.ok) throw new Error(`pool add: ${added.status} ${await added.text()}`);

    const body = { messages: [{ role: 'user', content: 'Tell me a long story.' }], temperature: 0, seed: 1 };
    /** The same request direct, through the pool and through the bare relay, in turn, `runs` times after the warm-up. */
    const interleaved = async (maxTokens: number, runs: number): Promise<{ direct: StreamTiming[]; pooled: StreamTiming[]; relayed: StreamTiming[] }> => {
      const series = { direct: [] as StreamTiming[], pooled: [] as StreamTiming[], relayed: [] as StreamTiming[] };
      for (let r = 0; r < WARMUP + runs; r++) {
        const a = await timedChatStream(engine.url, { ...body, max_tokens: maxTokens, model: MODEL }, auth);
        const b = await timedChatStream(front.url, { ...body, max_tokens: maxTokens, model: `up/${MODEL}` }, auth);
        const c = await timedChatStream(relayUrl, { ...body, max_tokens: maxTokens, model: MODEL }, auth);
        if (r < WARMUP) continue;
        series.direct.push(a);
        series.pooled.push(b);
        series.relayed.push(c);
      }
      return series;
    };
    const extra = (over: StreamTiming[], base: StreamTiming[], p: number): number => percentile(over.map((t, i) => t.ttftMs - base[i]!.ttftMs), p);

    const { direct, pooled, relayed } = await interleaved(TOKENS, RUNS);
    const rate = (t: StreamTiming): number => (t.tokensOut - 1) / (t.streamMs / 1000);
    const tpsDirect = median(direct.map(rate));
    const tpsPooled = median(pooled.map(rate));
    const tpsRelayed = median(relayed.map(rate));
    console.log(`pools   (engine = a second rbee queen, 1-slot worker, endless tiny model, ${TOKENS} tokens, OpenAI streaming chat, median of ${RUNS} interleaved runs after ${WARMUP} warm-up)`);
    console.log(`  engine direct         ${fmt(tpsDirect, 0)} tok/s   first token p50 ${fmt(median(direct.map((t) => t.ttftMs)))} ms`);
    console.log(`  queen → pool → engine ${fmt(tpsPooled, 0)} tok/s   first token p50 ${fmt(median(pooled.map((t) => t.ttftMs)))} ms   ratio ${fmt(tpsPooled / tpsDirect, 3)}× (goal ≥ 0.98×)`);
    console.log(`  extra hop, first token: p50 ${fmt(extra(pooled, direct, 50))} ms, p90 ${fmt(extra(pooled, direct, 90))} ms (goal ≤ 1 ms)`);
    console.log(`  the floor, a bare Node relay: ${fmt(tpsRelayed / tpsDirect, 3)}× tok/s, first token p50 +${fmt(extra(relayed, direct, 50))} ms, p90 +${fmt(extra(relayed, direct, 90))} ms`);
    console.log(`  the queen's own share of the hop: ${fmt(tpsPooled / tpsRelayed, 3)}× tok/s of the bare relay, first token p50 +${fmt(extra(pooled, relayed, 50))} ms`);
    console.log(`  tokens per answer: direct ${median(direct.map((t) => t.tokensOut))}, through the pool ${median(pooled.map((t) => t.tokensOut))}`);

    // The first token of a long stream leaves while the CPU engine goes on generating on one of the two
    // cores, so every relay waits for a core; a GPU engine leaves the cores to the relays. One-token
    // answers show the hop's first byte without that competition.
    const short = await interleaved(1, RUNS * 2);
    console.log(`  first byte of 1-token answers (${RUNS * 2} interleaved runs): engine direct p50 ${fmt(median(short.direct.map((t) => t.ttftMs)))} ms`);
    console.log(`    extra hop through the pool p50 ${fmt(extra(short.pooled, short.direct, 50))} ms, p90 ${fmt(extra(short.pooled, short.direct, 90))} ms (goal ≤ 1 ms); the bare relay's p50 +${fmt(extra(short.relayed, short.direct, 50))} ms`);
  } finally {
    await relay.stop();
    await front.proc.stop();
    await engine.proc.stop();
    rmSync(engineDir, { recursive: true, force: true });
    rmSync(frontDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPools();
