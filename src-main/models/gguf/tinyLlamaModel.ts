import { encodeGguf, type GgufTensor, type GgufValue } from './GgufWriter.js';
import { seededRandom } from '../../../src-shared/util/seededRandom.js';

/**
 * Tiny llama models with random weights and a byte-level vocabulary (BUILD-FACTS "Tiny GGUF models").
 * Their output is gibberish; they exist so tests, benchmarks and the first-run demo exercise the real
 * node-llama-cpp/llama.cpp path on machines where no weights can be downloaded.
 */
export interface TinyLlamaOptions {
  /** PRNG seed; one seed always gives the same bytes. Defaults to 1. */
  seed?: number;
  /** Defaults to 64. Must be divisible by `heads`. */
  embedding?: number;
  /** Transformer blocks. Defaults to 2. */
  blocks?: number;
  /** Attention heads (KV heads equal). Defaults to 4. */
  heads?: number;
  /** Feed-forward width. Defaults to 128. */
  feedForward?: number;
  /** Trained context length. Defaults to 512. */
  contextLength?: number;
  /** Written to `general.name`. Defaults to "rbee tiny demo". */
  name?: string;
  /**
   * Zero the end-of-sequence row of the output matrix: its logit is always 0 while some other token's
   * is practically always above it, so greedy decoding (temperature 0) never ends by itself. For tests
   * that need an answer to run until max_tokens or a deadline. Defaults to false.
   */
  silentEos?: boolean;
}

/** Normal (type 1) tokens after the byte tokens, so the tokenizer has some merges to choose from. */
const EXTRA_TOKENS = ['▁', '▁the', '▁a', '▁and', 'e', 't', '▁is', '▁of', 'in', 'er'];


export function tinyLlamaVocabulary(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const scores = [0, 0, 0];
  const types = [2, 3, 3]; // unknown, control, control
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    scores.push(0);
    types.push(6); // byte
  }
  EXTRA_TOKENS.forEach((token, i) => {
    tokens.push(token);
    scores.push(-(i + 1));
    types.push(1); // normal
  });
  return { tokens, scores, types };
}

export function buildTinyLlamaGguf(options: TinyLlamaOptions = {}): Buffer {
  const { metadata, tensors } = tinyLlamaContents(options);
  return encodeGguf(metadata, tensors, 32);
}

/** The metadata and tensors of a tiny model, before encoding (one file, or shards: splitGguf.ts). */
export function tinyLlamaContents(options: TinyLlamaOptions = {}): { metadata: Array<readonly [string, GgufValue]>; tensors: GgufTensor[] } {
  const seed = options.seed ?? 1;
  const nEmbd = options.embedding ?? 64;
  const nBlocks = options.blocks ?? 2;
  const nHeads = options.heads ?? 4;
  const nFf = options.feedForward ?? 128;
  const nCtx = options.contextLength ?? 512;
  if (nEmbd % nHeads !== 0) throw new Error(`embedding (${nEmbd}) must be divisible by heads (${nHeads})`);
  for (const [k, v] of Object.entries({ nEmbd, nBlocks, nHeads, nFf, nCtx })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
  }

  const vocab = tinyLlamaVocabulary();
  const nVocab = vocab.tokens.length;
  const random = seededRandom(seed);
  const uniform = (n: number, scale: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * scale;
    return out;
  };
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const outputWeights = (): Float32Array => {
    const weights = uniform(nEmbd * nVocab, 0.5);
    // Row of token 2 (</s>): dims are innermost first, so a token's weights are nEmbd consecutive floats.
    if (options.silentEos) weights.fill(0, 2 * nEmbd, 3 * nEmbd);
    return weights;
  };

  const tensors: GgufTensor[] = [
    { name: 'token_embd.weight', dims: [nEmbd, nVocab], data: uniform(nEmbd * nVocab, 0.5) },
    { name: 'output_norm.weight', dims: [nEmbd], data: ones(nEmbd) },
    { name: 'output.weight', dims: [nEmbd, nVocab], data: outputWeights() },
  ];
  for (let b = 0; b < nBlocks; b++) {
    const p = `blk.${b}.`;
    tensors.push(
      { name: `${p}attn_norm.weight`, dims: [nEmbd], data: ones(nEmbd) },
      { name: `${p}attn_q.weight`, dims: [nEmbd, nEmbd], data: uniform(nEmbd * nEmbd, 0.2) },
      { name: `${p}attn_k.weight`, dims: [nEmbd, nEmbd], data: uniform(nEmbd * nEmbd, 0.2) },
      { name: `${p}attn_v.weight`, dims: [nEmbd, nEmbd], data: uniform(nEmbd * nEmbd, 0.2) },
      { name: `${p}attn_output.weight`, dims: [nEmbd, nEmbd], data: uniform(nEmbd * nEmbd, 0.2) },
      { name: `${p}ffn_norm.weight`, dims: [nEmbd], data: ones(nEmbd) },
      { name: `${p}ffn_gate.weight`, dims: [nEmbd, nFf], data: uniform(nEmbd * nFf, 0.2) },
      { name: `${p}ffn_up.weight`, dims: [nEmbd, nFf], data: uniform(nEmbd * nFf, 0.2) },
      { name: `${p}ffn_down.weight`, dims: [nFf, nEmbd], data: uniform(nFf * nEmbd, 0.2) },
    );
  }

  const metadata: Array<readonly [string, GgufValue]> = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: options.name ?? 'rbee tiny demo' }],
    ['general.alignment', { type: 'u32', value: 32 }],
    ['general.file_type', { type: 'u32', value: 0 }], // ALL_F32
    ['llama.context_length', { type: 'u32', value: nCtx }],
    ['llama.embedding_length', { type: 'u32', value: nEmbd }],
    ['llama.block_count', { type: 'u32', value: nBlocks }],
    ['llama.feed_forward_length', { type: 'u32', value: nFf }],
    ['llama.attention.head_count', { type: 'u32', value: nHeads }],
    ['llama.attention.head_count_kv', { type: 'u32', value: nHeads }],
    ['llama.rope.dimension_count', { type: 'u32', value: nEmbd / nHeads }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
    ['llama.vocab_size', { type: 'u32', value: nVocab }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: vocab.types }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: 2 }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: 0 }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
  ];
  return { metadata, tensors };
}
