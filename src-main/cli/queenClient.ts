import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadToken } from '../auth/loadToken.js';
import { QUEEN_TOKEN_FILE } from '../auth/tokenFile.js';
import { defaultDataDir } from '../common/dataDir.js';

export const QUEEN_URL_ENV = 'RBEE_URL';

/**
 * How CLI commands reach a running queen: `--url` / $RBEE_URL; the token from `--token-file`, else
 * $LLORCH_API_TOKEN, else the queen's own `<data>/api-token` (`--data-dir` / the default data dir).
 */
export async function queenConnection(values: { url?: string; 'token-file'?: string; 'data-dir'?: string }): Promise<{ url: string; headers: Record<string, string> }> {
  const url = values.url ?? process.env[QUEEN_URL_ENV] ?? 'http://127.0.0.1:7833';
  const defaultFile = join(values['data-dir'] ?? defaultDataDir(), QUEEN_TOKEN_FILE);
  const token =
    (await loadToken({ file: values['token-file'], env: 'LLORCH_API_TOKEN' })) ??
    (existsSync(defaultFile) ? await loadToken({ file: defaultFile }) : undefined);
  return { url: url.replace(/\/+$/, ''), headers: token ? { authorization: `Bearer ${token}` } : {} };
}

/** One clear line for a failed call: the queen's own error message when it sent one. */
export async function describeFailure(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) return `${res.status} ${body.error.code ?? ''}: ${body.error.message}`;
  } catch {
    // not JSON
  }
  return `${res.status} ${text.slice(0, 200)}`;
}
