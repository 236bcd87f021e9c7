/**
 * `rbee` — one binary, several roles (DESIGN §1). Each command lives in `commands/<name>Command.ts`
 * and exports `run(argv): Promise<number>` (the exit code). Commands are imported lazily so that
 * `rbee audit verify` does not load node-llama-cpp.
 */
import { rememberStartupParent } from '../common/process/watchParent.js';
import { keepYoungGenerationSmall } from '../common/process/youngGeneration.js';

// Before anything slow: `--exit-with-parent` (hive) and workers compare against this parent.
rememberStartupParent();

type CommandModule = { run(argv: string[]): Promise<number> };

/** `smallYoungGeneration`: a long-lived daemon whose command line we do not own (see keepYoungGenerationSmall). */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule>; smallYoungGeneration?: true }> = {
  queen: { summary: 'the orchestrator: OpenAI-compatible API, dashboard, local hive (headless)', load: () => import('./commands/queenCommand.js'), smallYoungGeneration: true },
  infer: { summary: 'stream one completion from the queen (Ctrl-C cancels)', load: () => import('./commands/inferCommand.js') },
  workers: { summary: 'declared workers: workers [list]|add|remove (ls/rm), specs joined with their state', load: () => import('./commands/workersCommand.js') },
  models: { summary: 'list, pull (hf:user/repo:Q4_K_M, URLs), push and remove models across hives', load: () => import('./commands/modelsCommand.js') },
  worker: { summary: 'serve one GGUF model over HTTP (started by a hive)', load: () => import('./commands/workerCommand.js') },
  pools: { summary: 'external OpenAI-compatible engines: pools add|list|remove|test|reset (ls/rm)', load: () => import('./commands/poolsCommand.js') },
  logs: { summary: "a worker's output: logs WORKER [--hive H] [--follow] [--tail N]", load: () => import('./commands/logsCommand.js') },
  keys: { summary: 'scoped API keys: keys create|list|revoke (ls/rm)', load: () => import('./commands/keysCommand.js') },
  audit: { summary: 'the audit log: audit verify|head [dir], audit export --hive H --out DIR', load: () => import('./commands/auditCommand.js') },
  hive: { summary: 'supervise workers on this machine (restart policy, models, devices)', load: () => import('./commands/hiveCommand.js') },
  probe: { summary: 'measure devices and model memory for a hive, then exit (started by a hive)', load: () => import('./commands/probeCommand.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: rbee <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`rbee: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  // Before the command's modules load: loading them is what grows the young generation.
  if (command.smallYoungGeneration) keepYoungGenerationSmall();
  return (await command.load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`rbee: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
