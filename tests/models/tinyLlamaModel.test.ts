import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTinyModel } from '../../src-main/models/ensureTinyModel.js';
import { buildTinyLlamaGguf, tinyLlamaVocabulary } from '../../src-main/models/gguf/tinyLlamaModel.js';

const dir = mkdtempSync(join(tmpdir(), 'rbee-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tiny GGUF writer', () => {
  it('is byte-identical for one seed and differs across seeds', () => {
    const a = buildTinyLlamaGguf({ seed: 7 });
    expect(buildTinyLlamaGguf({ seed: 7 }).equals(a)).toBe(true);
    expect(buildTinyLlamaGguf({ seed: 8 }).equals(a)).toBe(false);
    expect(a.subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(a.readUInt32LE(4)).toBe(3);
  });

  it('parses back with node-llama-cpp’s GGUF reader: metadata and tensors as written', async () => {
    const path = await ensureTinyModel(join(dir, 'parse.gguf'), { seed: 3, embedding: 32, heads: 2, blocks: 3, feedForward: 64 });
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const info = await readGgufFileInfo(path);
    expect(info.version).toBe(3);
    expect(info.metadata.general.architecture).toBe('llama');
    const llama = (info.metadata as unknown as { llama: { embedding_length: number; block_count: number } }).llama;
    expect(llama.embedding_length).toBe(32);
    expect(llama.block_count).toBe(3);
    expect(info.tensorInfo?.length).toBe(3 + 3 * 9);
    const embd = info.tensorInfo?.find((t) => t.name === 'token_embd.weight');
    expect(embd?.dimensions.map(Number)).toEqual([32, tinyLlamaVocabulary().tokens.length]);
  });

  it('loads in node-llama-cpp and generates tokens', async () => {
    const path = await ensureTinyModel(join(dir, 'load.gguf'), { seed: 1 });
    const { getLlama } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1 });
    const model = await llama.loadModel({ modelPath: path });
    const context = await model.createContext({ contextSize: 256, threads: 1 });
    const sequence = context.getSequence();
    let n = 0;
    for await (const _token of sequence.evaluate(model.tokenize('hello'), { temperature: 0 })) {
      if (++n >= 8) break;
    }
    expect(n).toBe(8);
    expect(model.tokenize('hi').length).toBeGreaterThan(0);
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  });

  it('ensureTinyModel leaves an existing file alone', async () => {
    const path = join(dir, 'keep.gguf');
    await ensureTinyModel(path, { seed: 1 });
    const before = readFileSync(path);
    await ensureTinyModel(path, { seed: 2 });
    expect(readFileSync(path).equals(before)).toBe(true);
  });
});
