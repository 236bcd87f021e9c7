import { z } from 'zod';
import { MAX_CHAT_MESSAGES, MAX_STOP_SEQUENCES, MAX_TOKENS_LIMIT, MAX_TOP_LOGPROBS, PROMPT_MAX_CHARS } from '../worker/inferenceWire.js';

/**
 * The OpenAI request bodies the queen accepts. Every field OpenAI defines is named here as honoured,
 * ignored (harmless: it changes nothing about the answer) or refused with a reason; docs/api.md has the
 * same table. A field outside these lists is still a 400, so a typo fails loudly.
 */

/** A field whose meaning this server cannot honour: present (and not null/false) → 400 with the reason. */
const refused = (reason: string) =>
  z
    .unknown()
    .optional()
    .refine((value) => value === undefined || value === null || value === false, { message: reason });

const stop = z.union([z.string().min(1).max(64), z.array(z.string().min(1).max(64)).max(MAX_STOP_SEQUENCES)]).nullable().optional();

/** Accepted and ignored (see docs/api.md): bookkeeping and hints for OpenAI's own platform. */
const ignoredFields = {
  user: z.string().max(256).optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  store: z.boolean().nullable().optional(),
  service_tier: z.string().max(32).nullable().optional(),
  safety_identifier: z.string().max(256).optional(),
  prompt_cache_key: z.string().max(256).optional(),
  prompt_cache_retention: z.string().max(32).nullable().optional(),
  reasoning_effort: z.string().max(32).nullable().optional(),
  verbosity: z.string().max(32).nullable().optional(),
};

const samplingFields = {
  model: z.string().min(1).max(256),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }).strict().nullable().optional(),
  max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  /** Not OpenAI's, but sent by clients of llama.cpp, vLLM and Ollama. */
  top_k: z.number().int().min(0).max(1000).optional(),
  min_p: z.number().min(0).max(1).optional(),
  /** Not OpenAI's: keep generating past end-of-sequence (llama.cpp's server takes it too; the playground's long runs). */
  ignore_eos: z.boolean().optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).nullable().optional(),
  stop,
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  logit_bias: z.record(z.string().regex(/^\d{1,9}$/, 'logit_bias keys are token ids'), z.number().min(-100).max(100)).nullable().optional(),
  n: z.number().int().min(1).max(1, 'only n = 1 is supported (one choice per request)').nullable().optional(),
  ...ignoredFields,
};

export const ContentPartSchema = z.looseObject({ type: z.string().max(64), text: z.string().max(PROMPT_MAX_CHARS).optional() });
export type ContentPart = z.infer<typeof ContentPartSchema>;

const messageContent = z.union([z.string().max(PROMPT_MAX_CHARS), z.array(ContentPartSchema).max(256)]);

export const OpenAiToolCallSchema = z.object({
  id: z.string().min(1).max(128),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().min(1).max(128), arguments: z.string().max(PROMPT_MAX_CHARS) }),
});

/** One message. Fields OpenAI returns on assistant messages (refusal, annotations, audio) are dropped. */
export const OpenAiMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: messageContent.nullable().optional(),
  name: z.string().max(128).optional(),
  tool_calls: z.array(OpenAiToolCallSchema).max(64).optional(),
  tool_call_id: z.string().max(128).optional(),
});
export type OpenAiMessage = z.infer<typeof OpenAiMessageSchema>;

export const OpenAiToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'function names are 1-64 letters, digits, _ or -'),
    description: z.string().max(4096).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

export const OpenAiToolChoiceSchema = z.union([
  z.enum(['auto', 'none', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1).max(64) }) }),
]);

export const OpenAiResponseFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: z.string().min(1).max(64),
      description: z.string().max(4096).optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

export const ChatCompletionRequestSchema = z
  .object({
    ...samplingFields,
    messages: z.array(OpenAiMessageSchema).min(1).max(MAX_CHAT_MESSAGES),
    max_completion_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).nullable().optional(),
    tools: z.array(OpenAiToolSchema).max(128).optional(),
    tool_choice: OpenAiToolChoiceSchema.optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: OpenAiResponseFormatSchema.optional(),
    logprobs: z.boolean().nullable().optional(),
    top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullable().optional(),
    modalities: z
      .array(z.string())
      .nullable()
      .optional()
      .refine((m) => !m || m.every((x) => x === 'text'), { message: 'only text output is supported (no audio or image modalities)' }),
    audio: refused('audio output is not supported: this server generates text only'),
    prediction: refused('predicted outputs are not supported'),
    web_search_options: refused('web search is not supported'),
    functions: refused('the deprecated functions field is not supported: send tools'),
    function_call: refused('the deprecated function_call field is not supported: send tool_choice'),
  })
  .strict()
  .refine((r) => !r.top_logprobs || r.logprobs === true, { message: 'top_logprobs needs logprobs: true', path: ['top_logprobs'] });
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

export const CompletionRequestSchema = z
  .object({
    ...samplingFields,
    prompt: z.union([z.string().min(1).max(PROMPT_MAX_CHARS), z.array(z.string().min(1).max(PROMPT_MAX_CHARS)).length(1)]),
    /** Completions' logprobs is a count: the alternatives per token (0-5 in OpenAI's API). */
    logprobs: z.number().int().min(0).max(5).nullable().optional(),
    echo: refused('echo is not supported'),
    suffix: refused('suffix (insertion) is not supported'),
    best_of: z.number().int().min(1).max(1, 'only best_of = 1 is supported').nullable().optional(),
  })
  .strict();
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

export const EmbeddingRequestSchema = z
  .object({
    model: z.string().min(1).max(256),
    input: z.union([
      z.string().min(1).max(PROMPT_MAX_CHARS),
      z.array(z.string().min(1).max(PROMPT_MAX_CHARS)).min(1).max(256),
      z.array(z.number().int().min(0)).min(1).max(PROMPT_MAX_CHARS),
      z.array(z.array(z.number().int().min(0)).min(1).max(PROMPT_MAX_CHARS)).min(1).max(256),
    ]),
    encoding_format: z.enum(['float', 'base64']).optional(),
    dimensions: z.number().int().min(1).optional(),
    user: z.string().max(256).optional(),
  })
  .strict();
export type EmbeddingRequest = z.infer<typeof EmbeddingRequestSchema>;
