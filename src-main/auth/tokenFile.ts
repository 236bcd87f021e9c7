import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A fresh bearer token: 32 random bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

function firstLine(text: string): string | undefined {
  const line = text.split(/\r?\n/, 1)[0]?.trim();
  return line ? line : undefined;
}

/**
 * The token kept in `path` (the queen's `<data>/api-token`, the hive's `<data>/hive-token`): read
 * when it exists, else generated and written 0600 (exclusive create, so two starts agree on one).
 */
export async function loadOrCreateTokenFile(path: string): Promise<{ token: string; created: boolean }> {
  try {
    const existing = firstLine(await readFile(path, 'utf8'));
    if (existing) return { token: existing, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const token = generateToken();
  try {
    await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const raced = firstLine(await readFile(path, 'utf8'));
    if (!raced) throw new Error(`Token file ${path} is empty`);
    return { token: raced, created: false };
  }
}

/** Where a queen keeps its generated API token. */
export const QUEEN_TOKEN_FILE = 'api-token';
/** Where a hive keeps its generated token (`rbee hive --data-dir`). */
export const HIVE_TOKEN_FILE = 'hive-token';
/** The queen's scoped API keys (SHA-256 hashes only). */
export const API_KEYS_FILE = 'api-keys.json';
