import { z } from 'zod';
import { MAX_CHAT_MESSAGES, MAX_STOP_SEQUENCES, MAX_TOKENS_LIMIT, PROMPT_MAX_CHARS } from '../worker/inferenceWire.js';

/**
 * Anthropic's Messages API request (`POST /v1/messages`, `POST /v1/messages/count_tokens`). Block
 * types the models here cannot take (images, documents) are parsed loosely and refused by the route
 * with a message that names the modality.
 */

const refused = (reason: string) =>
  z
    .unknown()
    .optional()
    .refine((value) => value === undefined || value === null, { message: reason });

const cacheControl = z.unknown().optional();

export const AnthropicTextBlockSchema = z.object({ type: z.literal('text'), text: z.string().max(PROMPT_MAX_CHARS), cache_control: cacheControl, citations: z.unknown().optional() });

export const AnthropicContentBlockSchema = z.union([
  AnthropicTextBlockSchema,
  z.object({ type: z.literal('tool_use'), id: z.string().min(1).max(128), name: z.string().min(1).max(128), input: z.unknown(), cache_control: cacheControl }),
  z.object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1).max(128),
    content: z.union([z.string().max(PROMPT_MAX_CHARS), z.array(z.looseObject({ type: z.string(), text: z.string().optional() }))]).optional(),
    is_error: z.boolean().optional(),
    cache_control: cacheControl,
  }),
  // Thinking blocks a client echoes back are history only; anything else is refused by the route.
  z.looseObject({ type: z.string().max(64) }),
]);
export type AnthropicContentBlock = z.infer<typeof AnthropicContentBlockSchema>;

export const AnthropicMessageSchema = z.object({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string().max(PROMPT_MAX_CHARS), z.array(AnthropicContentBlockSchema).max(256)]),
});
export type AnthropicMessage = z.infer<typeof AnthropicMessageSchema>;

export const AnthropicToolSchema = z.object({
  type: z.literal('custom').optional(),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'tool names are 1-64 letters, digits, _ or -'),
  description: z.string().max(4096).optional(),
  input_schema: z.record(z.string(), z.unknown()),
  cache_control: cacheControl,
});

export const AnthropicToolChoiceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('tool'), name: z.string().min(1).max(64), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('none') }),
]);

const conversation = {
  model: z.string().min(1).max(256),
  messages: z.array(AnthropicMessageSchema).min(1).max(MAX_CHAT_MESSAGES),
  system: z.union([z.string().max(PROMPT_MAX_CHARS), z.array(AnthropicTextBlockSchema).max(64)]).optional(),
  tools: z.array(AnthropicToolSchema).max(128).optional(),
  tool_choice: AnthropicToolChoiceSchema.optional(),
  thinking: z
    .object({ type: z.string() })
    .loose()
    .optional()
    .refine((t) => !t || t.type === 'disabled', { message: 'extended thinking is not supported' }),
  mcp_servers: refused('MCP servers are not supported'),
};

export const AnthropicMessagesRequestSchema = z
  .object({
    ...conversation,
    max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT),
    stream: z.boolean().optional(),
    stop_sequences: z.array(z.string().min(1).max(64)).max(MAX_STOP_SEQUENCES).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    top_k: z.number().int().min(0).max(1000).optional(),
    /** Accepted and ignored: bookkeeping for Anthropic's own platform. */
    metadata: z.looseObject({}).optional(),
    service_tier: z.string().max(32).optional(),
    container: refused('containers are not supported'),
  })
  .strict();
export type AnthropicMessagesRequest = z.infer<typeof AnthropicMessagesRequestSchema>;

export const AnthropicCountTokensRequestSchema = z.object(conversation).strict();
export type AnthropicCountTokensRequest = z.infer<typeof AnthropicCountTokensRequestSchema>;
