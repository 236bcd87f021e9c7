import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PoolKeyStorage } from '../../../src-shared/control/poolSchemas.js';

/**
 * A pool's key as its store gave it back: the key and where it is kept, or a key that is gone (the
 * store can no longer open it, or the pool had one and the store has none), with the fingerprint it
 * had when that is known.
 */
export type StoredPoolKey = { key: string; storage: Exclude<PoolKeyStorage, 'lost'> } | { key: undefined; storage: 'lost'; fingerprint?: string };

/**
 * Where the queen keeps the API keys of its pools (never in `pools.json`). Headless: one 0600 file per
 * pool (`FilePoolKeyStore`). The desktop app hands in one that seals keys with safeStorage
 * (`electron/settings/settingsPoolKeyStore.ts`). A store never logs a key.
 */
export interface PoolKeyStore {
  /** The key of `pool`, or undefined when it has none. */
  read(pool: string): Promise<StoredPoolKey | undefined>;
  /** Keeps `key` for `pool` (replacing any) and says where it went; `undefined` forgets it. */
  write(pool: string, key: string | undefined): Promise<Exclude<PoolKeyStorage, 'lost'> | undefined>;
}

/** `<data>/pool-keys/NAME.key`: dir 0700, files 0600, replaced atomically (temp file + rename). */
export class FilePoolKeyStore implements PoolKeyStore {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'pool-keys');
  }

  async read(pool: string): Promise<StoredPoolKey | undefined> {
    try {
      const key = (await readFile(this.path(pool), 'utf8')).trim();
      return key.length > 0 ? { key, storage: 'file' } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async write(pool: string, key: string | undefined): Promise<'file' | undefined> {
    const path = this.path(pool);
    if (key === undefined) {
      await rm(path, { force: true });
      return undefined;
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    const tmp = `${path}.tmp`;
    await writeFile(tmp, key, { mode: 0o600 });
    await rename(tmp, path);
    return 'file';
  }

  private path(pool: string): string {
    return join(this.dir, `${pool}.key`);
  }
}
