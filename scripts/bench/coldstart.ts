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
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureBuilt } from '../ensureBuilt.mjs';
import { startQueenProcess } from './lib/queenProcess.js';
import { fmt, median } from './lib/stats.js';

const RUNS = Number(process.env.BENCH_COLDSTART_RUNS ?? 5);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GOAL_FIRST_TOKEN_MS = 3_000;

function timeCommand(args: string[]): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}`);
  return performance.now() - started;
}

/** Process start → `listening` line → the first streamed token of a chat on the demo model. */
async function queenToFirstToken(): Promise<{ listeningMs: number; firstTokenMs: number }> {
  const started = performance.now();
  const queen = await startQueenProcess();
  try {
    await queen.waitForModel('rbee-demo-tiny.gguf');
    const res = await fetch(`${queen.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...queen.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'rbee-demo-tiny.gguf', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, stream: true }),
    });
    if (!res.ok || !res.body) throw new Error(`chat answered ${res.status}`);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes('"content"')) break;
    }
    return { listeningMs: queen.listeningMs, firstTokenMs: performance.now() - started };
  } finally {
    await queen.stop();
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
