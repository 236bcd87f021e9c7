import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildTinyLlamaGguf, type TinyLlamaOptions } from './gguf/tinyLlamaModel.js';

/** File name of the first-run demo model; the UI labels it as a demo. */
export const DEMO_MODEL_FILE = 'rbee-demo-tiny.gguf';

/**
 * Writes a tiny model to `path` unless a file is already there. Written atomically (temp + rename)
 * so a concurrent reader never sees half a model.
 */
export async function ensureTinyModel(path: string, options: TinyLlamaOptions = {}): Promise<string> {
  try {
    const s = await stat(path);
    if (s.isFile() && s.size > 0) return path;
  } catch {
    // missing: write it below
  }
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, buildTinyLlamaGguf(options));
  await rename(tmp, path);
  return path;
}

export function demoModelPath(modelsDir: string): string {
  return join(modelsDir, DEMO_MODEL_FILE);
}
