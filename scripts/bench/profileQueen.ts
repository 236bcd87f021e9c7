/**
 * Where the queen's CPU goes on the token path (docs/benchmarks.md "Where the queen's time went").
 * Not part of `npm run bench`: a tool. It starts a queen (built bundle) with `--cpu-prof`, one 1-slot
 * worker on the tiny model, drives one kind of load, and prints the queen's CPU per token and per
 * request (from /proc, so it counts even on a loaded machine) and the hottest functions of its profile.
 *
 *   node --import tsx scripts/bench/profileQueen.ts chat|inference|first|pool [requests]
 *
 * - `chat`: OpenAI streaming chat, 512 tokens; `inference`: the native route, 512 tokens;
 * - `first`: OpenAI streaming chat, 1 token (the per-request fixed cost);
 * - `pool`: the front queen (profiled) → a pool → an engine queen, OpenAI streaming chat, 256 tokens
 *   (`POOL_TOKENS=1`: the pool hop's per-request cost).
 *
 * The profile is printed as the hottest functions, self time by module (Node's own, each package, the
 * bundle, native), and the bundle's functions inclusive.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { BUILT_CLI } from '../../src-main/common/rbeeCommand.js';
import { startProcessIn, type RbeeProcess } from '../../tests/helpers/childProcess.js';
import { endlessTinyModelPath, tinyModelPath } from '../../tests/helpers/tinyModel.js';
import { fmt, median } from './lib/stats.js';
import { timedChatStream, timedStream, type StreamTiming } from './lib/streamClient.js';

const TOKEN = 'bench-profile-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const MODEL = 'tiny.gguf';
type Phase = 'chat' | 'inference' | 'first' | 'pool';

/** User and system CPU time of a process, in ms (Linux /proc, clock ticks at USER_HZ = 100). */
function cpuMs(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
}

async function startQueen(dataDir: string, profileDir: string | null, extra: string[] = []): Promise<{ proc: RbeeProcess; url: string }> {
  // PROFILE_PERF: no V8 profile, but a /tmp/perf-PID.map for `perf record -p PID` (CPU time only).
  const flags = !profileDir ? [] : process.env.PROFILE_PERF ? ['--perf-basic-prof'] : process.env.PROFILE_OFF ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
  const proc = startProcessIn(process.cwd(), process.execPath, [...flags, BUILT_CLI, 'queen', '--port', '0', '--data-dir', dataDir, '--audit', 'disabled', ...extra], {
    LLORCH_API_TOKEN: TOKEN,
    RBEE_LOG_LEVEL: 'warn',
  });
  const { url } = await proc.waitForLine<{ url: string }>((l) => l.event === 'listening');
  return { proc, url };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check().catch(() => false))) await new Promise((r) => setTimeout(r, 100));
}

const snapshot = async (url: string): Promise<ClusterSnapshot> => (await fetch(`${url}/v1/control/snapshot`, { headers: auth })).json() as Promise<ClusterSnapshot>;

async function queenWithWorker(dataDir: string, profileDir: string | null, modelPath: string): Promise<{ proc: RbeeProcess; url: string }> {
  mkdirSync(join(dataDir, 'models'), { recursive: true });
  copyFileSync(modelPath, join(dataDir, 'models', MODEL));
  const queen = await startQueen(dataDir, profileDir);
  await until(async () => (await snapshot(queen.url)).models.some((m) => m.name === MODEL));
  const res = await fetch(`${queen.url}/v1/control/workers`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ hive_id: 'local', model: MODEL, slots: 1, threads: 1, ctx: 1024, device: 'cpu' }),
  });
  if (!res.ok) throw new Error(`spawn: ${res.status} ${await res.text()}`);
  await until(async () => (await snapshot(queen.url)).workers.some((w) => w.state === 'idle' || w.state === 'busy'));
  return queen;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Now on V8's profile clock (CLOCK_MONOTONIC in µs on Linux, as process.hrtime). */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time per function of a V8 .cpuprofile, hottest first, counting only the samples taken within
 * `window` (the measured load, not the start-up). V8 samples wall-clock time while the thread is not
 * idle: time in a syscall includes waiting for a CPU on a loaded machine (compare with /proc's figures).
 */
function hottest(file: string, top: number, window: { from: number; to: number }): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (node: ProfileNode): string => {
    const f = node.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|out|src-main)\//, '$1/')}:${f.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  /** Inclusive time of the project's own functions (the bundle in out/): which request step costs what. */
  const inclusive = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < window.from || at > window.to) return;
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + dt);
    if (node.callFrame.functionName !== '(idle)') total += dt;
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!;
      if (!frame.callFrame.url.includes('/out/main/')) continue;
      const k = keyOf(frame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  });
  console.log(`  profile: ${fmt(total / 1000, 0)} ms of non-idle samples`);
  for (const [key, us] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${fmt((100 * us) / total, 1).padStart(5)}%  ${fmt(us / 1000, 1).padStart(7)} ms  ${key}`);
  }
  // Self time by where the code lives: Node's own modules, each package, the bundle, native (syscalls, GC).
  const byModule = new Map<string, number>();
  for (const [key, us] of self) {
    if (key.startsWith('(idle)')) continue;
    const where = key.slice(key.lastIndexOf(' ') + 1);
    const module = where.startsWith('node:') ? 'node:' + (where.match(/^node:(internal\/)?([a-z_]+)/)?.[2] ?? where) : where.startsWith('node_modules/') ? where.split('/').slice(0, where.startsWith('node_modules/@') ? 3 : 2).join('/') : where.startsWith('out/') ? 'the bundle (out/)' : key.split(' ')[0]!;
    byModule.set(module, (byModule.get(module) ?? 0) + us);
  }
  console.log('  self time by module:');
  for (const [module, us] of [...byModule].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${fmt((100 * us) / total, 1).padStart(5)}%  ${fmt(us / 1000, 1).padStart(7)} ms  ${module}`);
  console.log('  inclusive, the bundle\'s own functions:');
  for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${fmt((100 * us) / total, 1).padStart(5)}%  ${fmt(us / 1000, 1).padStart(7)} ms  ${key}`);
  }
}

async function main(): Promise<void> {
  const phase = (process.argv[2] ?? 'chat') as Phase;
  const requests = Number(process.argv[3] ?? 40);
  const warmup = 8;
  const root = mkdtempSync(join(tmpdir(), 'rbee-profile-'));
  const profileDir = join(root, 'profile');
  const procs: RbeeProcess[] = [];
  try {
    let url: string;
    let queenPid: number;
    let run: () => Promise<StreamTiming>;
    if (phase === 'pool') {
      const engine = await queenWithWorker(join(root, 'engine'), null, await endlessTinyModelPath());
      procs.push(engine.proc);
      mkdirSync(join(root, 'front'));
      const front = await startQueen(join(root, 'front'), profileDir, ['--no-local-hive']);
      procs.push(front.proc);
      const added = await fetch(`${front.url}/v1/control/pools`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'up', base_url: `${engine.url}/v1`, api_key: TOKEN, models: [MODEL] }),
      });
      if (!added.ok) throw new Error(`pool add: ${added.status} ${await added.text()}`);
      url = front.url;
      queenPid = front.proc.pid;
      const body = { messages: [{ role: 'user', content: 'Tell me a long story.' }], max_tokens: Number(process.env.POOL_TOKENS ?? 256), temperature: 0, seed: 1, model: `up/${MODEL}` };
      run = () => timedChatStream(url, body, auth);
    } else {
      const queen = await queenWithWorker(join(root, 'queen'), profileDir, await tinyModelPath());
      procs.push(queen.proc);
      url = queen.url;
      queenPid = queen.proc.pid;
      const tokens = phase === 'first' ? 1 : 512;
      if (phase === 'inference') {
        const body = { prompt: 'The quick brown fox', max_tokens: tokens, ignore_eos: true, seed: 1, model: MODEL };
        run = () => timedStream(url, '/v1/inference', body, auth);
      } else {
        const body = { messages: [{ role: 'user', content: 'The quick brown fox' }], max_tokens: tokens, ignore_eos: true, seed: 1, model: MODEL };
        run = () => timedChatStream(url, body, auth);
      }
    }
    for (let i = 0; i < warmup; i++) await run();
    const idleFrom = cpuMs(queenPid);
    await new Promise((r) => setTimeout(r, 3000));
    const idleTo = cpuMs(queenPid);
    console.log(`idle: queen CPU ${fmt((idleTo.user + idleTo.system - idleFrom.user - idleFrom.system) / 3, 1)} ms per second`);
    const from = monotonicUs();
    const before = cpuMs(queenPid);
    const timings: StreamTiming[] = [];
    // CPU per token in windows of `requests / 5`: does the cost fall as the JIT warms up?
    const windowSize = Math.max(1, Math.floor(requests / 5));
    let windowStart = before;
    let windowTokens = 0;
    const windows: string[] = [];
    for (let i = 0; i < requests; i++) {
      const t = await run();
      timings.push(t);
      windowTokens += t.tokensOut;
      if ((i + 1) % windowSize === 0) {
        const now = cpuMs(queenPid);
        windows.push(fmt(((now.user + now.system - windowStart.user - windowStart.system) * 1000) / windowTokens, 1));
        windowStart = now;
        windowTokens = 0;
      }
    }
    const after = cpuMs(queenPid);
    const to = monotonicUs();
    const user = after.user - before.user;
    const system = after.system - before.system;
    const cpu = user + system;
    const tokens = timings.reduce((n, t) => n + t.tokensOut, 0);
    console.log(`${phase}: ${requests} requests, ${tokens} tokens`);
    console.log(`  queen CPU ${fmt((cpu * 1000) / tokens, 1)} µs per token (user ${fmt((user * 1000) / tokens, 1)}, system ${fmt((system * 1000) / tokens, 1)}), ${fmt(cpu / requests, 2)} ms per request`);
    console.log(`  µs per token by window of ${windowSize} requests: ${windows.join(', ')}`);
    console.log(`  first token p50 ${fmt(median(timings.map((t) => t.ttftMs)))} ms`);
    const profiled = procs.at(-1)!;
    await profiled.stop();
    const file = existsSync(profileDir) ? readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
    if (file) hottest(join(profileDir, file), Number(process.env.PROFILE_TOP ?? 40), { from, to });
    else console.log('  (no profile written)');
  } finally {
    for (const p of procs.reverse()) await p.stop();
    if (!process.env.PROFILE_KEEP) rmSync(root, { recursive: true, force: true });
    else console.log(`kept ${root}`);
  }
}

await main();
