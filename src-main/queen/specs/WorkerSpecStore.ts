import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { WorkerSpecSchema, type WorkerSpec } from '../../../src-shared/control/controlSchemas.js';

/**
 * Where the queen keeps its declared workers. Headless it is a file in the data dir; the desktop app
 * hands in one backed by its electron-store settings. Ephemeral specs never reach a store.
 */
export interface WorkerSpecStore {
  load(): Promise<WorkerSpec[]>;
  save(specs: readonly WorkerSpec[]): Promise<void>;
}

export const WORKER_SPECS_FILE = 'worker-specs.json';

const SpecFileSchema = z.object({ version: z.literal(1), specs: z.array(WorkerSpecSchema) });

/** `<data>/worker-specs.json`: mode 0600, replaced atomically (write a temp file, rename). */
export class FileWorkerSpecStore implements WorkerSpecStore {
  constructor(private readonly path: string) {}

  async load(): Promise<WorkerSpec[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const parsed = SpecFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${this.path} is not a valid worker spec list: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return parsed.data.specs;
  }

  async save(specs: readonly WorkerSpec[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ version: 1, specs }, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
