import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PoolRecordSchema, type PoolRecord } from '../../../src-shared/control/poolSchemas.js';

const PoolFileSchema = z.object({ pools: z.array(PoolRecordSchema) });

/**
 * Pools persisted in the queen's data dir: `pools.json` (0600, no secrets) and one key file per pool
 * in `pool-keys/` (dir 0700, files 0600). On the desktop the app keeps its own copy of each key with
 * safeStorage and hands it to the queen; headless, these files are the store.
 */
export class PoolStore {
  private readonly file: string;
  private readonly keyDir: string;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'pools.json');
    this.keyDir = join(dataDir, 'pool-keys');
  }

  async load(): Promise<Array<{ record: PoolRecord; apiKey: string | undefined }>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const parsed = PoolFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${this.file} is not a valid pool list: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return Promise.all(parsed.data.pools.map(async (record) => ({ record, apiKey: await this.readKey(record.name) })));
  }

  async save(records: readonly PoolRecord[]): Promise<void> {
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ pools: records }, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }

  async writeKey(name: string, key: string | undefined): Promise<void> {
    const path = this.keyPath(name);
    if (key === undefined) {
      await rm(path, { force: true });
      return;
    }
    await mkdir(this.keyDir, { recursive: true, mode: 0o700 });
    await chmod(this.keyDir, 0o700);
    const tmp = `${path}.tmp`;
    await writeFile(tmp, key, { mode: 0o600 });
    await rename(tmp, path);
  }

  private async readKey(name: string): Promise<string | undefined> {
    try {
      const key = (await readFile(this.keyPath(name), 'utf8')).trim();
      return key.length > 0 ? key : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private keyPath(name: string): string {
    return join(this.keyDir, `${name}.key`);
  }
}
