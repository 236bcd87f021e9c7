import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ModelCatalog } from '../../src-main/hive/ModelCatalog.js';
import { readGgufExtent } from '../../src-main/models/gguf/ggufDataExtent.js';
import { tinyModelPath } from '../helpers/tinyModel.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rbee-catalog-'));
  dirs.push(dir);
  return dir;
}

describe('model catalog: a half-copied GGUF is not served', () => {
  it('the tensor data extent of a whole tiny model equals its size', async () => {
    const path = await tinyModelPath();
    const extent = await readGgufExtent(path);
    expect(extent.exact).toBe(true);
    expect(extent.requiredBytes).toBe(extent.sizeBytes);
  });

  it('a file cut inside its tensor data is pending (truncated) and refused; completing it makes it a model', async () => {
    const whole = await readFile(await tinyModelPath());
    const dir = tempDir();
    const catalog = new ModelCatalog(dir, 'local');
    await writeFile(join(dir, 'copy.gguf'), whole.subarray(0, Math.floor(whole.length * 0.7)));
    expect(await catalog.list()).toEqual([]);
    expect(catalog.pending.get('copy.gguf')).toBe('truncated');
    await expect(catalog.resolveComplete('copy.gguf')).rejects.toMatchObject({ status: 409, code: 'CONFLICT' });

    await writeFile(join(dir, 'copy.gguf'), whole);
    const models = await catalog.list();
    expect(models.map((m) => m.name)).toEqual(['copy.gguf']);
    expect(models[0]!.size_bytes).toBe(whole.length);
    expect(catalog.pending.size).toBe(0);
    await expect(catalog.resolveComplete('copy.gguf')).resolves.toBe(join(dir, 'copy.gguf'));
  });

  it('a file cut inside its header is pending too, and a removed file leaves the list', async () => {
    const whole = await readFile(await tinyModelPath());
    const dir = tempDir();
    const catalog = new ModelCatalog(dir, 'local');
    await writeFile(join(dir, 'a.gguf'), whole);
    await writeFile(join(dir, 'b.gguf'), whole.subarray(0, 200));
    expect((await catalog.list()).map((m) => m.name)).toEqual(['a.gguf']);
    expect(catalog.pending.get('b.gguf')).toBe('truncated');
    rmSync(join(dir, 'a.gguf'));
    rmSync(join(dir, 'b.gguf'));
    expect(await catalog.list()).toEqual([]);
    expect(catalog.pending.size).toBe(0);
  });
});
