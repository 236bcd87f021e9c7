/**
 * Cold-start benchmark (runtime issue, goals 1 and 8):
 * - `rbee --help` from the built bundle against the same command through tsx's loader (the way every
 *   process started before): what a process start saves by not compiling TypeScript;
 * - a headless queen from process start to the first demo token, as `npm start` runs it
 *   (`bin/rbee.mjs queen --demo`, out/ already built): goal ≤ 3 s after the first build.
 * Medians of N runs (default 5), each with a fresh data dir (the demo model is generated each time).
 *
 * Standalone: `node --import tsx scripts/bench/coldstart.ts`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureBuilt } from '../ensureBuilt.mjs';
import { fmt, median } from './lib/stats.js';

const RUNS = Number(process.env.BENCH_COLDSTART_RUNS ?? 5);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'bench-token-0123456789abcdef';
const GOAL_FIRST_TOKEN_MS = 3_000;

function timeCommand(args: string[]): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}`);
  return performance.now() - started;
}

/** Process start → `listening` line → the first streamed token of a chat on the demo model. */
async function queenToFirstToken(): Promise<{ listeningMs: number; firstTokenMs: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rbee-bench-cold-'));
  const started = performance.now();
  const queen = spawn(process.execPath, ['bin/rbee.mjs', 'queen', '--demo', '--port', '0', '--data-dir', dataDir, '--audit', 'disabled'], {
    cwd: ROOT,
    env: { ...process.env, LLORCH_API_TOKEN: TOKEN, RBEE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      queen.once('exit', (code) => reject(new Error(`queen exited ${code}`)));
      createInterface({ input: queen.stdout! }).on('line', (line) => {
        if (line.includes('"listening"')) resolve((JSON.parse(line) as { url: string }).url);
      });
    });
    const listeningMs = performance.now() - started;
    // Until the local hive has reported its catalog, the model is unknown (404): a client would retry,
    // so does this one (every 20 ms). Once known, a request waits for the loading worker.
    const headers = { authorization: `Bearer ${TOKEN}` };
    for (;;) {
      const models = (await (await fetch(`${url}/v1/models`, { headers })).json()) as { data?: Array<{ id: string }> };
      if (models.data?.some((m) => m.id === 'rbee-demo-tiny.gguf')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'rbee-demo-tiny.gguf', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, stream: true }),
    });
    if (!res.ok || !res.body) throw new Error(`chat answered ${res.status}`);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes('"content"')) break;
    }
    return { listeningMs, firstTokenMs: performance.now() - started };
  } finally {
    queen.kill('SIGTERM');
    await new Promise((resolve) => (queen.exitCode !== null ? resolve(null) : queen.once('exit', resolve)));
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function benchColdStart(runs = RUNS): Promise<Record<string, number>> {
  if (!ensureBuilt()) throw new Error('building out/ failed');
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
  const builtHelp: number[] = [];
  const tsxHelp: number[] = [];
  // Interleaved, so that whatever else the machine does weighs on both alike.
  for (let i = 0; i < runs; i++) {
    builtHelp.push(timeCommand(['out/main/cli.js', '--help']));
    tsxHelp.push(timeCommand(['--import', tsx, 'src-main/cli/main.ts', '--help']));
  }
  const listening: number[] = [];
  const firstToken: number[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await queenToFirstToken();
    listening.push(run.listeningMs);
    firstToken.push(run.firstTokenMs);
  }
  return {
    runs,
    help_built_ms_median: median(builtHelp),
    help_tsx_ms_median: median(tsxHelp),
    help_built_over_tsx: median(builtHelp) / median(tsxHelp),
    queen_listening_ms_median: median(listening),
    queen_first_demo_token_ms_median: median(firstToken),
    first_token_over_goal: median(firstToken) / GOAL_FIRST_TOKEN_MS,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const f = await benchColdStart();
  console.log(`cold start, median of ${f.runs} (out/ built; a fresh data dir each run)`);
  console.log(`  rbee --help, built bundle      ${fmt(f.help_built_ms_median!, 0)} ms`);
  console.log(`  rbee --help, through tsx       ${fmt(f.help_tsx_ms_median!, 0)} ms   built/tsx = ${fmt(f.help_built_over_tsx!)}×`);
  console.log(`  queen start → listening        ${fmt(f.queen_listening_ms_median!, 0)} ms`);
  console.log(
    `  queen start → first demo token ${fmt(f.queen_first_demo_token_ms_median!, 0)} ms   ${fmt(f.first_token_over_goal!)}× of the 3 s goal ${f.first_token_over_goal! <= 1 ? '(met)' : '(NOT met)'}`,
  );
}
