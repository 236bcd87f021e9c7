import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTinyModel } from '../../src-main/models/ensureTinyModel.js';

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

/** A tiny model whose greedy answers never end by themselves (see TinyLlamaOptions.silentEos). */
export async function endlessTinyModelPath(seed = 1): Promise<string> {
  const dir = join(tmpdir(), 'rbee-test-models');
  mkdirSync(dir, { recursive: true });
  return ensureTinyModel(join(dir, `tiny-endless-seed${seed}.gguf`), { seed, silentEos: true });
}
