import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';

/**
 * The repository (or packaged app) root. The desktop app sets RBEE_APP_ROOT (`app.getAppPath()`):
 * bundled, this file lives in a chunk folder and "two levels up" would be wrong.
 */
export const PROJECT_ROOT = process.env.RBEE_APP_ROOT || resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

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

/**
 * How to start another `rbee` subcommand as a child process (the hive starts workers, the queen
 * starts the local hive). The Node programs run from their TypeScript sources through tsx's loader,
 * resolved by absolute path so the child's working directory does not matter.
 */
export function rbeeCommand(subcommand: string, args: readonly string[] = []): ProcessCommand {
  // Inside Electron, process.execPath is the Electron binary: ELECTRON_RUN_AS_NODE makes it plain Node
  // for the child only (never set it on the app itself: Chromium's helpers would inherit it).
  const env: Record<string, string> = process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {};
  const forkArgs = [subcommand, ...args];
  const sourceCli = resolve(PROJECT_ROOT, 'src-main', 'cli', 'main.ts');
  const builtCli = resolve(PROJECT_ROOT, 'out', 'main', 'cli.js');
  if (!existsSync(sourceCli) && existsSync(builtCli)) {
    // A packaged app ships the built CLI entry, not the TypeScript sources.
    return { command: process.execPath, args: [builtCli, ...forkArgs], modulePath: builtCli, forkArgs, execArgv: [], env };
  }
  const require = createRequire(import.meta.url);
  const tsxLoader = pathToFileURL(require.resolve('tsx/esm')).href;
  const cli = resolve(PROJECT_ROOT, 'src-main', 'cli', 'main.ts');
  const execArgv = ['--import', tsxLoader];
  return { command: process.execPath, args: [...execArgv, cli, ...forkArgs], modulePath: cli, forkArgs, execArgv, env };
}
