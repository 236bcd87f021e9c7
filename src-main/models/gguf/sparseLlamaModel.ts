import { open } from 'node:fs/promises';
import { encodeGgufHeader, GgmlType, type GgufTensorInfo, type GgufValue } from './GgufWriter.js';
import { tinyLlamaVocabulary } from './tinyLlamaModel.js';

/** The shape of a llama model (GQA allowed); F16 weights. */
export interface LlamaShape {
  embedding: number;
  blocks: number;
  heads: number;
  kvHeads: number;
  feedForward: number;
  contextLength: number;
}

/** A 70B-class block shape: about 1.7 GB of F16 weights per block. */
export const LARGE_LLAMA_BLOCK: Omit<LlamaShape, 'blocks'> = { embedding: 8192, heads: 64, kvHeads: 8, feedForward: 28672, contextLength: 8192 };

const F16_BYTES = 2;

function tensorInfos(shape: LlamaShape, nVocab: number): GgufTensorInfo[] {
  const { embedding: e, feedForward: ff } = shape;
  const kv = (e / shape.heads) * shape.kvHeads;
  const t = (name: string, dims: number[], type: number = GgmlType.F16): GgufTensorInfo => ({
    name,
    dims,
    type,
    byteLength: dims.reduce((a, b) => a * b, 1) * (type === GgmlType.F32 ? 4 : F16_BYTES),
  });
  const infos = [t('token_embd.weight', [e, nVocab]), t('output_norm.weight', [e], GgmlType.F32), t('output.weight', [e, nVocab])];
  for (let b = 0; b < shape.blocks; b++) {
    const p = `blk.${b}.`;
    infos.push(
      t(`${p}attn_norm.weight`, [e], GgmlType.F32),
      t(`${p}attn_q.weight`, [e, e]),
      t(`${p}attn_k.weight`, [e, kv]),
      t(`${p}attn_v.weight`, [e, kv]),
      t(`${p}attn_output.weight`, [e, e]),
      t(`${p}ffn_norm.weight`, [e], GgmlType.F32),
      t(`${p}ffn_gate.weight`, [e, ff]),
      t(`${p}ffn_up.weight`, [e, ff]),
      t(`${p}ffn_down.weight`, [ff, e]),
    );
  }
  return infos;
}

/** Bytes of weights one block adds (to size a model to a memory target). */
export function llamaBlockBytes(shape: Omit<LlamaShape, 'blocks'>): number {
  const one = tensorInfos({ ...shape, blocks: 1 }, 0).filter((t) => t.name.startsWith('blk.'));
  return one.reduce((sum, t) => sum + t.byteLength, 0);
}

/**
 * Writes a llama GGUF whose header carries real tensor shapes and whose data section is a hole: a
 * sparse file of the full size that takes no disk blocks. It cannot run (no weights), but
 * node-llama-cpp's memory estimates read only the header, so admission can be checked against a
 * model of any size. Returns the file's apparent size.
 */
export async function writeSparseLlamaGguf(path: string, shape: LlamaShape): Promise<number> {
  const vocab = tinyLlamaVocabulary();
  const metadata: Array<readonly [string, GgufValue]> = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: 'rbee sparse header (no weights)' }],
    ['general.alignment', { type: 'u32', value: 32 }],
    ['general.file_type', { type: 'u32', value: 1 }], // MOSTLY_F16
    ['llama.context_length', { type: 'u32', value: shape.contextLength }],
    ['llama.embedding_length', { type: 'u32', value: shape.embedding }],
    ['llama.block_count', { type: 'u32', value: shape.blocks }],
    ['llama.feed_forward_length', { type: 'u32', value: shape.feedForward }],
    ['llama.attention.head_count', { type: 'u32', value: shape.heads }],
    ['llama.attention.head_count_kv', { type: 'u32', value: shape.kvHeads }],
    ['llama.rope.dimension_count', { type: 'u32', value: shape.embedding / shape.heads }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
    ['llama.vocab_size', { type: 'u32', value: vocab.tokens.length }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: vocab.types }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: 2 }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: 0 }],
  ];
  const { header, dataBytes } = encodeGgufHeader(metadata, tensorInfos(shape, vocab.tokens.length), 32);
  const file = await open(path, 'w', 0o600);
  try {
    await file.write(header, 0, header.length, 0);
    await file.truncate(header.length + dataBytes);
  } finally {
    await file.close();
  }
  return header.length + dataBytes;
}
