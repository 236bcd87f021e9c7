import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where a headless queen keeps settings, models and the audit log: `$XDG_DATA_HOME/rbee` or `~/.local/share/rbee`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'rbee');
}
