import { z } from 'zod';

/**
 * The parts of a `/v1/chat/completions` stream frame a client reads (OpenAI's `chat.completion.chunk`,
 * or the `{error}` frame a cut stream ends with). Loose: other fields pass untouched.
 */
export const ChatCompletionChunkSchema = z.looseObject({
  id: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        delta: z.looseObject({ content: z.string().nullable().optional() }).optional(),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .optional(),
  usage: z.looseObject({ completion_tokens: z.number().int().nonnegative(), prompt_tokens: z.number().int().nonnegative().optional() }).nullable().optional(),
  /** llama.cpp's extension (the queen sends it on the usage chunk): the worker's decode time. */
  timings: z.looseObject({ predicted_ms: z.number().nonnegative() }).optional(),
  error: z.looseObject({ message: z.string(), code: z.string().nullable().optional() }).optional(),
});
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunkSchema>;
