import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, resolve } from 'node:path';

/** The repository (or installed bundle) root: two levels above this file. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ProcessCommand {
  /** For `spawn(command, args)`. */
  command: string;
  args: string[];
  /** For `fork(modulePath, forkArgs, { execArgv })`, which gives the child an IPC channel. */
  modulePath: string;
  forkArgs: string[];
  execArgv: string[];
}

/**
 * How to start another `rbee` subcommand as a child process (the hive starts workers, the queen
 * starts the local hive). The Node programs run from their TypeScript sources through tsx's loader,
 * resolved by absolute path so the child's working directory does not matter.
 */
export function rbeeCommand(subcommand: string, args: readonly string[] = []): ProcessCommand {
  const require = createRequire(import.meta.url);
  const tsxLoader = pathToFileURL(require.resolve('tsx/esm')).href;
  const cli = resolve(PROJECT_ROOT, 'src-main', 'cli', 'main.ts');
  const execArgv = ['--import', tsxLoader];
  const forkArgs = [subcommand, ...args];
  return { command: process.execPath, args: [...execArgv, cli, ...forkArgs], modulePath: cli, forkArgs, execArgv };
}
