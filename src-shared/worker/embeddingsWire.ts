import { z } from 'zod';
import { PROMPT_MAX_CHARS } from './inferenceWire.js';

export const MAX_EMBEDDING_INPUTS = 256;

/**
 * `POST /v1/embeddings` on a worker: texts or token-id arrays, one vector each. The queen has turned
 * OpenAI's input forms (a string, strings, a token array, token arrays) into this list.
 */
export const EmbeddingsRequestSchema = z
  .object({
    input: z
      .array(z.union([z.string().min(1).max(PROMPT_MAX_CHARS), z.array(z.number().int().min(0)).min(1).max(PROMPT_MAX_CHARS)]))
      .min(1)
      .max(MAX_EMBEDDING_INPUTS),
    model: z.string().min(1).max(256).optional(),
  })
  .strict();
export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequestSchema>;

export interface EmbeddingsResponse {
  model: string;
  dimensions: number;
  /** One vector per input, in order. */
  embeddings: number[][];
  /** Tokens of all inputs together. */
  tokens_in: number;
}

/** `POST /v1/tokenize` on a worker: an inference request's prompt tokens, rendered as for generation. */
export interface TokenCountResponse {
  tokens_in: number;
}
