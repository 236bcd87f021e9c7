import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PoolRecordSchema, type PoolRecord } from '../../../src-shared/control/poolSchemas.js';
import type { PoolKeyStore, StoredPoolKey } from './PoolKeyStore.js';

const PoolFileSchema = z.object({ pools: z.array(PoolRecordSchema) });

/**
 * Pools persisted in the queen's data dir: `pools.json` (0600, no secrets). Their keys go to the
 * key store: 0600 files headless, safeStorage-sealed secrets in the desktop app (see PoolKeyStore).
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
    return Promise.all(parsed.data.pools.map(async (record) => ({ record, key: await this.keys.read(record.name) })));
  }

  async save(records: readonly PoolRecord[]): Promise<void> {
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ pools: records }, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
