/**
 * Idle memory (runtime issue, goal 4): a headless queen with its demo model and local hive, as
 * `npm start` runs it, left idle after one answer. Prints the RSS of each process (queen, hive, the
 * demo worker, the warm standby) and:
 * - queen + hive against the goal ≤ 150 MB;
 * - the worker against a bare node-llama-cpp process holding the same model and context, measured in
 *   the same run (goal ≤ 40 MB above it);
 * - the probe child's peak RSS (VmHWM) while it answers a device probe and an estimate: the memory the
 *   hive no longer keeps, paid for ~1 s per probe.
 * RSS is the median of 5 samples, 1 s apart, after the tree has been quiet (no probe child) for 5 s.
 *
 * Standalone: `node --import tsx scripts/bench/memory.ts`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { rbeeCommand } from '../../src-main/common/rbeeCommand.js';
import { ensureTinyModel } from '../../src-main/models/ensureTinyModel.js';
import { ensureBuilt } from '../ensureBuilt.mjs';
import { commandLine, processTree, rssBytes } from './lib/processTree.js';
import { startQueenProcess } from './lib/queenProcess.js';
import { fmt, median } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GOAL_QUEEN_HIVE_MB = 150;
const GOAL_WORKER_OVER_BARE_MB = 40;
const MB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Role = 'queen' | 'hive' | 'worker' | 'standby' | 'probe' | 'other';

/** What an rbee process is, from its argv (`out/main/cli.js <subcommand>` or the standby entry). */
function roleOf(argv: string[], isRoot: boolean): Role {
  if (isRoot) return 'queen';
  if (argv.some((a) => a.endsWith('workerStandby.js'))) return 'standby';
  const cli = argv.findIndex((a) => a.endsWith('cli.js') || a.endsWith('rbee.mjs'));
  const sub = cli >= 0 ? argv[cli + 1] : undefined;
  return sub === 'hive' || sub === 'worker' || sub === 'probe' ? sub : 'other';
}

async function roles(root: number): Promise<Map<number, Role>> {
  const out = new Map<number, Role>();
  for (const pid of await processTree(root)) out.set(pid, roleOf(await commandLine(pid), pid === root));
  return out;
}

/** A bare node-llama-cpp process that loads `modelPath` with the demo worker's context, then reports its RSS. */
async function bareLlamaRss(modelPath: string, slots: number, threads: number): Promise<number> {
  const script = fileURLToPath(new URL('./lib/bareLlama.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, modelPath, String(slots), String(threads)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`bare node-llama-cpp process exited ${code}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => line === 'ready' && resolve());
    });
    await sleep(2_000);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(await rssBytes(child.pid!));
      await sleep(1_000);
    }
    return median(samples);
  } finally {
    child.kill('SIGKILL');
  }
}

/** Peak RSS of a probe child (the built bundle) answering a device probe and one estimate. */
async function probeChildPeak(modelPath: string): Promise<number> {
  // Started as a hive starts it (rbeeCommand: the built bundle, the probe's V8 flags).
  const launch = rbeeCommand('probe', ['--gpu', 'auto']);
  const child = spawn(launch.command, launch.args, { cwd: ROOT, env: { ...process.env, ...launch.env }, stdio: ['pipe', 'pipe', 'ignore'] });
  const answers = createInterface({ input: child.stdout! });
  const done = new Promise<void>((resolve, reject) => {
    let n = 0;
    answers.on('line', () => ++n === 2 && resolve());
    child.once('exit', (code) => reject(new Error(`probe child exited ${code}`)));
  });
  child.stdin!.write(`${JSON.stringify({ id: 1, kind: 'devices' })}\n${JSON.stringify({ id: 2, kind: 'estimate', request: { modelPath, ctx: 2048, slots: 2 } })}\n`);
  await done;
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin!.end();
  await exited;
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

export interface MemoryFigures {
  queenMb: number;
  hiveMb: number;
  workerMb: number;
  standbyMb: number | null;
  bareLlamaMb: number;
  probePeakMb: number;
}

export async function benchMemory(): Promise<MemoryFigures> {
  if (!ensureBuilt()) throw new Error('building out/ failed');
  const queen = await startQueenProcess();
  let figures: Omit<MemoryFigures, 'bareLlamaMb' | 'probePeakMb'>;
  let slots = 2;
  try {
    await queen.waitForModel('rbee-demo-tiny.gguf');
    // One answer: the demo worker is loaded and has served (what an idle stack looks like in use).
    const res = await fetch(`${queen.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...queen.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'rbee-demo-tiny.gguf', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 }),
    });
    if (!res.ok) throw new Error(`chat answered ${res.status}: ${await res.text()}`);
    const snapshot = (await (await fetch(`${queen.url}/v1/control/snapshot`, { headers: queen.headers })).json()) as ClusterSnapshot;
    const worker = snapshot.workers.find((w) => w.model === 'rbee-demo-tiny.gguf' && w.pid !== null);
    if (!worker?.pid) throw new Error('no demo worker in the snapshot');
    slots = worker.slots.total;
    // Quiet: no probe child and a standby in place (refilled a few seconds after a use), for 5 s.
    const deadline = Date.now() + 60_000;
    let quietSince = Date.now();
    for (;;) {
      const now = await roles(queen.pid);
      const busy = [...now.values()].includes('probe') || ![...now.values()].includes('standby');
      if (busy) quietSince = Date.now();
      if (Date.now() - quietSince >= 5_000 || Date.now() > deadline) break;
      await sleep(250);
    }
    const samples = new Map<Role, number[]>();
    for (let i = 0; i < 5; i++) {
      for (const [pid, role] of await roles(queen.pid)) {
        const key: Role = pid === worker.pid ? 'worker' : role;
        samples.set(key, [...(samples.get(key) ?? []), await rssBytes(pid)]);
      }
      await sleep(1_000);
    }
    const mb = (role: Role): number | null => (samples.has(role) ? median(samples.get(role)!) / MB : null);
    figures = { queenMb: mb('queen')!, hiveMb: mb('hive') ?? Number.NaN, workerMb: mb('worker') ?? Number.NaN, standbyMb: mb('standby') };
  } finally {
    await queen.stop();
  }
  const dir = await mkdtemp(join(tmpdir(), 'rbee-bench-memory-'));
  try {
    // The demo model is byte-identical wherever it is generated.
    const model = await ensureTinyModel(join(dir, 'rbee-demo-tiny.gguf'), { name: 'rbee demo (tiny, random weights)' });
    const bareLlamaMb = (await bareLlamaRss(model, slots, 1)) / MB;
    const probePeakMb = (await probeChildPeak(model)) / MB;
    return { ...figures, bareLlamaMb, probePeakMb };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const f = await benchMemory();
  const together = f.queenMb + f.hiveMb;
  const overBare = f.workerMb - f.bareLlamaMb;
  const verdict = (ok: boolean): string => (ok ? '(met)' : '(NOT met)');
  console.log('idle memory, demo queen + local hive after one answer (RSS, median of 5 samples once quiet)');
  console.log(`  queen                 ${fmt(f.queenMb, 1)} MB`);
  console.log(`  hive                  ${fmt(f.hiveMb, 1)} MB`);
  console.log(`  queen + hive          ${fmt(together, 1)} MB   ${fmt(together / GOAL_QUEEN_HIVE_MB)}× of the ${GOAL_QUEEN_HIVE_MB} MB goal ${verdict(together <= GOAL_QUEEN_HIVE_MB)}`);
  console.log(`  worker (demo model)   ${fmt(f.workerMb, 1)} MB   bare node-llama-cpp, same model and context: ${fmt(f.bareLlamaMb, 1)} MB → +${fmt(overBare, 1)} MB (goal ≤ ${GOAL_WORKER_OVER_BARE_MB} MB) ${verdict(overBare <= GOAL_WORKER_OVER_BARE_MB)}`);
  console.log(`  warm standby (empty)  ${f.standbyMb === null ? 'none' : `${fmt(f.standbyMb, 1)} MB`}`);
  console.log(`  probe child, peak     ${fmt(f.probePeakMb, 1)} MB while answering a device probe and an estimate, then it exits`);
}
