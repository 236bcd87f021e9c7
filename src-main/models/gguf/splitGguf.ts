import { encodeGguf, type GgufTensor, type GgufValue } from './GgufWriter.js';

/**
 * Splits a model into `parts` GGUF files the way llama.cpp's `gguf-split --split` does: every shard is a
 * whole GGUF file holding a run of the tensors; the first carries all metadata, the others only the
 * split keys; every shard has `split.no` (u16, 0-based), `split.count` (u16) and `split.tensors.count`
 * (i32, tensors of the whole model). llama.cpp's loader checks the key types and the tensor total.
 */
export function encodeSplitGguf(
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensor[],
  parts: number,
  alignment = 32,
): Buffer[] {
  if (!Number.isInteger(parts) || parts < 1 || parts > tensors.length) throw new Error(`parts must be between 1 and ${tensors.length}, got ${parts}`);
  const perPart = Math.ceil(tensors.length / parts);
  const shards: Buffer[] = [];
  for (let i = 0; i < parts; i++) {
    const splitKeys: Array<readonly [string, GgufValue]> = [
      ['split.no', { type: 'u16', value: i }],
      ['split.count', { type: 'u16', value: parts }],
      ['split.tensors.count', { type: 'i32', value: tensors.length }],
    ];
    const slice = tensors.slice(i * perPart, Math.min(tensors.length, (i + 1) * perPart));
    shards.push(encodeGguf(i === 0 ? [...metadata, ...splitKeys] : splitKeys, slice, alignment));
  }
  return shards;
}
