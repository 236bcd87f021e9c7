/**
 * The hive's own GGUF header reader agrees with node-llama-cpp's parser (the reference) on the files
 * this project writes: the tiny model, each shard of a split model, and a sparse 70B-class header.
 * A truncated header and a garbage one are refused with InvalidGgufError, and the catalog summary
 * names the model as before.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGgufSummary } from '../../src-main/hive/ModelCatalog.js';
import { InvalidGgufError } from '../../src-main/models/gguf/checkGgufHeader.js';
import { readGgufExtent } from '../../src-main/models/gguf/ggufDataExtent.js';
import { readGgufHeader } from '../../src-main/models/gguf/readGgufHeader.js';
import { LARGE_LLAMA_BLOCK, writeSparseLlamaGguf } from '../../src-main/models/gguf/sparseLlamaModel.js';
import { splitTinyModelShards, tinyModelPath } from '../helpers/tinyModel.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbee-gguf-header-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Our reader and node-llama-cpp's, on one file: the same tensors at the same offsets, the same scalar keys. */
async function expectSameAsReference(path: string): Promise<void> {
  const ours = await readGgufHeader(path);
  const reference = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false, sourceType: 'filesystem', spliceSplitFiles: false });
  expect(ours.dataOffset).toBe(reference.infoEndOffset);
  expect(ours.tensors?.map((t) => [t.name, t.dimensions, t.ggmlType, t.fileOffset])).toEqual(
    reference.tensorInfo?.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.fileOffset)]),
  );
  for (const [key, value] of ours.metadata) {
    const referenceValue = key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], reference.metadata);
    if (typeof value === 'object') expect((referenceValue as unknown[]).length, key).toBe(value.length);
    else if (typeof referenceValue !== 'object') expect(referenceValue, key).toEqual(value);
  }
}

describe('readGgufHeader', () => {
  it('matches node-llama-cpp on the tiny model', async () => {
    const path = await tinyModelPath();
    await expectSameAsReference(path);
    const header = await readGgufHeader(path);
    expect(header.metadata.get('general.architecture')).toBe('llama');
    expect(header.metadata.get('tokenizer.ggml.tokens')).toMatchObject({ arrayType: 8 });
  });

  it('matches node-llama-cpp on every shard of a split model', async () => {
    const shards = splitTinyModelShards(3);
    for (const [i, shard] of shards.entries()) {
      const path = join(dir, `split-0000${i + 1}-of-00003.gguf`);
      await writeFile(path, shard);
      await expectSameAsReference(path);
      expect((await readGgufExtent(path)).split).toMatchObject({ no: i, count: 3 });
    }
  });

  it('matches node-llama-cpp on a sparse 70B-class header (offsets beyond 4 GiB)', async () => {
    const path = join(dir, 'sparse.gguf');
    await writeSparseLlamaGguf(path, { ...LARGE_LLAMA_BLOCK, blocks: 4 });
    await expectSameAsReference(path);
    const extent = await readGgufExtent(path);
    expect(extent.requiredBytes).toBe(extent.sizeBytes);
  });

  it('refuses a file that ends inside its header, and garbage, with InvalidGgufError', async () => {
    const whole = await readFile(await tinyModelPath());
    const truncated = join(dir, 'truncated.gguf');
    await writeFile(truncated, whole.subarray(0, 600));
    await expect(readGgufHeader(truncated)).rejects.toBeInstanceOf(InvalidGgufError);
    const garbage = join(dir, 'garbage.gguf');
    await writeFile(garbage, Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(16, 0xff)]));
    await expect(readGgufHeader(garbage)).rejects.toThrow(/implausible/);
    const notGguf = join(dir, 'not.gguf');
    await writeFile(notGguf, 'hello world, not a model at all');
    await expect(readGgufHeader(notGguf)).rejects.toThrow(/bad magic/);
  });

  it('summarises a model for the catalog as before (architecture, quantization, context)', async () => {
    const path = join(dir, 'tiny.gguf');
    await copyFile(await tinyModelPath(), path);
    expect(await readGgufSummary(path)).toMatchObject({ architecture: 'llama', quantization: 'F32', context_length: 512 });
  });
});
