import type { LlamaModel, Token } from 'node-llama-cpp';
import type { TokenLogprob } from '../../src-shared/worker/inferenceWire.js';

/** What `evaluateWithMetadata` yields per token when logprobs are asked for. */
export interface SampledMetadata {
  confidence?: number;
  probabilities?: Map<Token, number>;
}

/** A byte-fallback token (`<0xE2>`): its text alone is not valid UTF-8, its byte is what it holds. */
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** SentencePiece marks a word-initial space with U+2581; a lone token's text must keep that space. */
const SPM_SPACE = /\u2581/g;

function describe(model: LlamaModel, token: Token): { token: string; bytes: number[] } {
  const piece = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.[token] ?? '';
  const raw = BYTE_TOKEN.exec(piece);
  if (raw) return { token: model.detokenize([token], true), bytes: [Number.parseInt(raw[1]!, 16)] };
  const text = model.fileInfo.metadata.tokenizer?.ggml?.model === 'llama' && !model.isSpecialToken(token) ? piece.replace(SPM_SPACE, ' ') : model.detokenize([token], true);
  return { token: text, bytes: [...Buffer.from(text, 'utf8')] };
}

/** Natural log, with a floor so a zero probability stays a finite JSON number (as OpenAI's -9999). */
const ln = (p: number): number => (p > 0 ? Math.log(p) : -9999);

/**
 * One token in OpenAI's logprobs shape. The probabilities are node-llama-cpp's, taken after the
 * request's sampling settings (temperature, top-k/p, penalties, grammar) shaped the distribution.
 */
export function tokenLogprob(model: LlamaModel, token: Token, metadata: SampledMetadata, top: number): TokenLogprob {
  const alternatives: TokenLogprob['top_logprobs'] = [];
  if (top > 0 && metadata.probabilities) {
    for (const [candidate, probability] of metadata.probabilities) {
      if (alternatives.length >= top) break;
      alternatives.push({ ...describe(model, candidate), logprob: ln(probability) });
    }
  }
  return { ...describe(model, token), logprob: ln(metadata.confidence ?? 0), top_logprobs: alternatives };
}
