import { readFile } from 'node:fs/promises';

/**
 * Reads a bearer token from a file (first line, trimmed) or an environment variable — never argv,
 * where any user on the machine could read it from the process list.
 */
export async function loadToken(options: { file?: string; env?: string; environment?: NodeJS.ProcessEnv }): Promise<string | undefined> {
  if (options.file) {
    const text = await readFile(options.file, 'utf8');
    const token = text.split(/\r?\n/, 1)[0]?.trim();
    if (!token) throw new Error(`Token file ${options.file} is empty`);
    return token;
  }
  if (options.env) {
    const value = (options.environment ?? process.env)[options.env]?.trim();
    return value ? value : undefined;
  }
  return undefined;
}
