import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PoolRecordSchema, type PoolRecord } from '../../../src-shared/control/poolSchemas.js';
import type { PoolKeyStore, StoredPoolKey } from './PoolKeyStore.js';

/**
 * One remembered pool: its record and, when it was added with a key, that key's fingerprint. The
 * fingerprint is how a restart tells "this pool needs no key" from "its key is gone" (a key kept for
 * one session only, a keychain that changed, a deleted key file).
 */
const PoolEntrySchema = PoolRecordSchema.extend({ key_fingerprint: z.string().regex(/^token:[0-9a-f]{6}$/).optional() });
const PoolFileSchema = z.object({ pools: z.array(PoolEntrySchema) });

export interface PoolEntry {
  record: PoolRecord;
  /** `token:<fp6>` of the key the pool was added with; undefined when it has none. */
  keyFingerprint: string | undefined;
}

/**
 * Pools persisted in the queen's data dir: `pools.json` (0600, no secrets: a key's fingerprint at
 * most). Their keys go to the key store: 0600 files headless, safeStorage-sealed secrets in the
 * desktop app (see PoolKeyStore).
 */
export class PoolStore {
  private readonly file: string;

  constructor(
    dataDir: string,
    readonly keys: PoolKeyStore,
  ) {
    this.file = join(dataDir, 'pools.json');
  }

  async load(): Promise<Array<{ record: PoolRecord; key: StoredPoolKey | undefined }>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const parsed = PoolFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${this.file} is not a valid pool list: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return Promise.all(
      parsed.data.pools.map(async ({ key_fingerprint, ...record }) => {
        const key = await this.keys.read(record.name);
        if (key?.storage === 'lost') return { record, key: { ...key, ...(key_fingerprint ? { fingerprint: key_fingerprint } : {}) } };
        if (key === undefined && key_fingerprint) return { record, key: { key: undefined, storage: 'lost' as const, fingerprint: key_fingerprint } };
        return { record, key };
      }),
    );
  }

  async save(entries: readonly PoolEntry[]): Promise<void> {
    const pools = entries.map(({ record, keyFingerprint }) => ({ ...record, ...(keyFingerprint ? { key_fingerprint: keyFingerprint } : {}) }));
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ pools }, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
