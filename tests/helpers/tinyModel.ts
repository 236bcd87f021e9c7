import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTinyModel } from '../../src-main/models/ensureTinyModel.js';
import { encodeSplitGguf } from '../../src-main/models/gguf/splitGguf.js';
import { tinyLlamaContents } from '../../src-main/models/gguf/tinyLlamaModel.js';

/**
 * A generated tiny llama model shared by tests (one file per seed and context length, written once per
 * machine). The default trained context is 512 tokens.
 */
export async function tinyModelPath(seed = 1, contextLength?: number): Promise<string> {
  const dir = join(tmpdir(), 'rbee-test-models');
  mkdirSync(dir, { recursive: true });
  const name = contextLength === undefined ? `tiny-seed${seed}.gguf` : `tiny-seed${seed}-ctx${contextLength}.gguf`;
  return ensureTinyModel(join(dir, name), { seed, ...(contextLength === undefined ? {} : { contextLength }) });
}

/**
 * A tiny model whose greedy answers never end by themselves (see TinyLlamaOptions.silentEos): they run
 * to max_tokens, the context limit or the deadline. A longer trained context makes them run longer.
 */
export async function endlessTinyModelPath(seed = 1, contextLength?: number): Promise<string> {
  const dir = join(tmpdir(), 'rbee-test-models');
  mkdirSync(dir, { recursive: true });
  const name = contextLength === undefined ? `tiny-endless-seed${seed}.gguf` : `tiny-endless-seed${seed}-ctx${contextLength}.gguf`;
  return ensureTinyModel(join(dir, name), { seed, silentEos: true, ...(contextLength === undefined ? {} : { contextLength }) });
}

/**
 * The bytes of a tiny model that the catalog serves (complete: every tensor's data is in the file)
 * but that never loads: the token embedding's first dimension is halved, a shape llama.cpp refuses
 * at once. A truncated file would not do: the catalog holds it back as a copy still in progress.
 */
export async function unloadableTinyModel(seed = 1): Promise<Buffer> {
  const copy = Buffer.from(readFileSync(await tinyModelPath(seed)));
  const name = Buffer.from('token_embd.weight', 'utf8');
  const at = copy.indexOf(name);
  if (at < 0) throw new Error('the tiny model has no token_embd.weight tensor');
  const dim0 = at + name.length + 4;
  copy.writeBigUInt64LE(copy.readBigUInt64LE(dim0) / 2n, dim0);
  return copy;
}

/**
 * A tiny model split into `parts` shards the way llama.cpp's gguf-split writes them (each shard a GGUF
 * file with `split.no` / `split.count` / `split.tensors.count`; metadata in the first). Write them as
 * `<prefix>-0000i-of-0000N.gguf` (splitGgufPartName) and load the first.
 */
export function splitTinyModelShards(parts: number, seed = 1): Buffer[] {
  const { metadata, tensors } = tinyLlamaContents({ seed, name: `rbee tiny split ${parts}` });
  return encodeSplitGguf(metadata, tensors, parts);
}
