import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTinyModel } from '../../src-main/models/ensureTinyModel.js';

/** A generated tiny llama model shared by tests (one file per seed, written once per machine). */
export async function tinyModelPath(seed = 1): Promise<string> {
  const dir = join(tmpdir(), 'rbee-test-models');
  mkdirSync(dir, { recursive: true });
  return ensureTinyModel(join(dir, `tiny-seed${seed}.gguf`), { seed });
}

/** A tiny model whose greedy answers never end by themselves (see TinyLlamaOptions.silentEos). */
export async function endlessTinyModelPath(seed = 1): Promise<string> {
  const dir = join(tmpdir(), 'rbee-test-models');
  mkdirSync(dir, { recursive: true });
  return ensureTinyModel(join(dir, `tiny-endless-seed${seed}.gguf`), { seed, silentEos: true });
}
