import { stat } from 'node:fs/promises';
import { readGgufHeader, TruncatedGgufError } from './readGgufHeader.js';

/**
 * Bytes per block and elements per block of the ggml tensor types (ggml.c `type_traits`). A type not
 * listed here (a newer quantisation) still counts as one byte past its offset, so the check degrades
 * to "the last tensor starts inside the file" instead of refusing a model we cannot size.
 */
const GGML_BLOCK: Readonly<Record<number, readonly [bytes: number, elements: number]>> = {
  0: [4, 1], // F32
  1: [2, 1], // F16
  2: [18, 32], // Q4_0
  3: [20, 32], // Q4_1
  6: [22, 32], // Q5_0
  7: [24, 32], // Q5_1
  8: [34, 32], // Q8_0
  9: [36, 32], // Q8_1
  10: [84, 256], // Q2_K
  11: [110, 256], // Q3_K
  12: [144, 256], // Q4_K
  13: [176, 256], // Q5_K
  14: [210, 256], // Q6_K
  15: [292, 256], // Q8_K
  16: [66, 256], // IQ2_XXS
  17: [74, 256], // IQ2_XS
  18: [98, 256], // IQ3_XXS
  19: [50, 256], // IQ1_S
  20: [18, 32], // IQ4_NL
  21: [110, 256], // IQ3_S
  22: [82, 256], // IQ2_S
  23: [136, 256], // IQ4_XS
  24: [1, 1], // I8
  25: [2, 1], // I16
  26: [4, 1], // I32
  27: [8, 1], // I64
  28: [8, 1], // F64
  29: [56, 256], // IQ1_M
  30: [2, 1], // BF16
  34: [54, 256], // TQ1_0
  35: [66, 256], // TQ2_0
};

export interface GgufExtent {
  /** Bytes the file must have for every tensor's data to be present. */
  requiredBytes: number;
  /** Bytes the file has. */
  sizeBytes: number;
  /** False when some tensor type's size is unknown here: `requiredBytes` is then only a lower bound. */
  exact: boolean;
  /** Tensors in this file (one shard's share for a split model). */
  tensorCount: number;
  /** The `split.*` keys of a split model's shard (llama.cpp gguf-split), null for a single file. */
  split: { no: number; count: number; tensorsCount: number | null } | null;
}

/** Bytes of one tensor's data, or null for a type whose block size is unknown here. */
export function tensorDataBytes(ggmlType: number, dimensions: readonly (number | bigint)[]): number | null {
  const block = GGML_BLOCK[ggmlType];
  if (!block) return null;
  const elements = dimensions.reduce<number>((product, d) => product * Number(d), 1);
  return Math.ceil(elements / block[1]) * block[0];
}

/**
 * How far the tensor data of a GGUF file reaches, read from its header (`readGgufHeader`, tensor infos
 * included; one file at a time, a split model's shards each on their own). A file still being copied
 * parses (the header comes first) but is shorter than its extent: that is how a half-copied model is
 * told apart from a complete one; so is a file that ends inside its header. Throws when the header
 * does not parse (not a model).
 */
export async function readGgufExtent(path: string): Promise<GgufExtent> {
  const sizeBytes = (await stat(path)).size;
  let header;
  try {
    header = await readGgufHeader(path);
  } catch (error) {
    // Cut inside the header: the file is shorter than its extent, whatever the rest holds.
    if (error instanceof TruncatedGgufError) {
      return { requiredBytes: Math.max(error.neededBytes, sizeBytes + 1), sizeBytes, exact: false, tensorCount: 0, split: null };
    }
    throw error;
  }
  const tensors = header.tensors ?? [];
  let requiredBytes = header.dataOffset ?? 0;
  let exact = true;
  for (const tensor of tensors) {
    const bytes = tensorDataBytes(tensor.ggmlType, tensor.dimensions);
    if (bytes === null) exact = false;
    const end = tensor.fileOffset + (bytes ?? 1);
    if (end > requiredBytes) requiredBytes = end;
  }
  const no = header.metadata.get('split.no');
  const count = header.metadata.get('split.count');
  const tensorsCount = header.metadata.get('split.tensors.count');
  return {
    requiredBytes,
    sizeBytes,
    exact,
    tensorCount: tensors.length,
    split:
      typeof no === 'number' && typeof count === 'number'
        ? { no, count, tensorsCount: typeof tensorsCount === 'number' ? tensorsCount : null }
        : null,
  };
}
