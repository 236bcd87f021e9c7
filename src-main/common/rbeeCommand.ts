import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { PARENT_PID_ENV } from './process/watchParent.js';

/**
 * The repository (or packaged app) root: the nearest folder above this module holding a package.json.
 * Walking up works from the sources (src-main/common/) and from the bundle alike (out/main/ or
 * out/main/chunks/, wherever the bundler put this code). The desktop app sets RBEE_APP_ROOT
 * (`app.getAppPath()`, inside an asar archive).
 */
export const PROJECT_ROOT = process.env.RBEE_APP_ROOT || findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(resolve(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..', '..');
  }
}

export interface ProcessCommand {
  /** For `spawn(command, args)`. */
  command: string;
  args: string[];
  /** For `fork(modulePath, forkArgs, { execArgv })`, which gives the child an IPC channel. */
  modulePath: string;
  forkArgs: string[];
  execArgv: string[];
  /** Merge into the child's environment (inside Electron: run the binary as plain Node). */
  env?: Record<string, string>;
}

/** The built CLI entry every rbee process runs (`electron-vite build` → out/main/cli.js). */
export const BUILT_CLI = resolve(PROJECT_ROOT, 'out', 'main', 'cli.js');

/**
 * V8 flags per subcommand. The hive and its probe child handle lifecycle, not tokens, and allocate
 * little: a 1 MiB young generation (Node's default grows to 16 MiB per semi-space) costs them nothing
 * measurable and an idle hive ~9 MB of RSS. The hive also runs without V8's optimizing compiler
 * (`--no-opt`; the interpreter and the Sparkplug baseline compiler remain, and so does WebAssembly, which
 * undici's HTTP parser needs, unlike `--lite-mode`): its JS is control traffic, catalog scans and
 * event relays, never the token path, and TurboFan's compiled code plus the compile zones its
 * background threads leave in their malloc arenas cost an idle hive ~8–10 MB (docs/benchmarks.md
 * "Memory"). The probe child keeps the optimizer: it parses GGUF metadata in JS for a second or two.
 * Workers keep the default: they are on the token path; the queen limits its own young generation at
 * run time (keepYoungGenerationSmall). Not under Electron, whose run-as-node mode we cannot test here
 * with extra flags.
 */
const V8_FLAGS: Readonly<Partial<Record<string, readonly string[]>>> = {
  hive: ['--max-semi-space-size=1', '--no-opt'],
  probe: ['--max-semi-space-size=1'],
};

/**
 * How to start another `rbee` subcommand as a child process (the hive starts workers, the queen
 * starts the local hive). Children run the built bundle, never TypeScript through a loader: a start
 * costs no transpiling (~0.3 s and ~25 MB less per process, BUILD-FACTS) and a packaged app, which
 * ships only out/, runs exactly what development runs. `npm start`, `npm test` and bin/rbee.mjs
 * build out/ when it is stale (scripts/ensureBuilt.mjs).
 */
export function rbeeCommand(subcommand: string, args: readonly string[] = []): ProcessCommand {
  // Inside Electron, process.execPath is the Electron binary: ELECTRON_RUN_AS_NODE makes it plain Node
  // for the child only (never set it on the app itself: Chromium's helpers would inherit it).
  const env: Record<string, string> = process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {};
  // The child's watchParent compares against this pid, so a parent that dies while the child is
  // still starting is noticed too (see rememberStartupParent).
  env[PARENT_PID_ENV] = String(process.pid);
  const forkArgs = [subcommand, ...args];
  if (!existsSync(BUILT_CLI)) {
    throw new Error(`rbee is not built (${BUILT_CLI} is missing): run \`npm run build\` first`);
  }
  const flags = process.versions.electron ? [] : [...(V8_FLAGS[subcommand] ?? [])];
  return { command: process.execPath, args: [...flags, BUILT_CLI, ...forkArgs], modulePath: BUILT_CLI, forkArgs, execArgv: flags, env };
}
