import { z } from 'zod';
import { SseParser, type SseMessage } from '../util/SseParser.js';

/** Limits from DESIGN §3 "Worker SSE". */
export const PROMPT_MAX_CHARS = 32_768;
export const MAX_TOKENS_LIMIT = 2048;
export const MAX_STOP_SEQUENCES = 8;

export const MAX_CHAT_MESSAGES = 256;

/** A call the assistant made, as the worker sees it: arguments stay the JSON text the model wrote. */
export const WireToolCallSchema = z
  .object({
    id: z.string().min(1).max(128),
    name: z.string().min(1).max(128),
    arguments: z.string().max(PROMPT_MAX_CHARS),
  })
  .strict();
export type WireToolCall = z.infer<typeof WireToolCallSchema>;

/**
 * One chat turn on the worker wire. The queen has already normalised the client's shape (developer →
 * system, text parts joined); `tool` turns answer an assistant's `tool_calls` by `tool_call_id`.
 */
export const ChatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.string().max(PROMPT_MAX_CHARS),
    name: z.string().max(128).optional(),
    tool_calls: z.array(WireToolCallSchema).max(64).optional(),
    tool_call_id: z.string().max(128).optional(),
  })
  .strict();
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** A JSON schema as the client sent it; the worker checks what its grammar can honour. */
export const JsonSchemaValueSchema = z.record(z.string(), z.unknown());
export type JsonSchemaValue = z.infer<typeof JsonSchemaValueSchema>;

export const WireToolSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'function names are 1-64 letters, digits, _ or -'),
    description: z.string().max(4096).optional(),
    parameters: JsonSchemaValueSchema.optional(),
  })
  .strict();
export type WireTool = z.infer<typeof WireToolSchema>;

/** `auto`: the model may call; `none`: it may not; `required`/a name: a call is forced by a grammar. */
export const WireToolChoiceSchema = z.union([z.enum(['auto', 'none', 'required']), z.object({ name: z.string().min(1).max(64) }).strict()]);
export type WireToolChoice = z.infer<typeof WireToolChoiceSchema>;

/** Output constrained by a grammar: any JSON object, or one that matches a schema. */
export const WireResponseFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).strict(),
  z.object({ type: z.literal('json_object') }).strict(),
  z.object({ type: z.literal('json_schema'), schema: JsonSchemaValueSchema }).strict(),
]);
export type WireResponseFormat = z.infer<typeof WireResponseFormatSchema>;

export const MAX_TOP_LOGPROBS = 20;

/**
 * `POST /v1/inference` body: a raw `prompt`, or chat `messages` that the worker renders with the
 * model's own chat template. Unknown fields are rejected so typos fail loudly.
 */
export const InferenceRequestSchema = z
  .object({
    prompt: z.string().min(1).max(PROMPT_MAX_CHARS).optional(),
    messages: z.array(ChatMessageSchema).min(1).max(MAX_CHAT_MESSAGES).optional(),
    max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).default(128),
    temperature: z.number().min(0).max(2).default(0.7),
    top_p: z.number().gt(0).max(1).optional(),
    top_k: z.number().int().min(0).max(1000).optional(),
    seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
    min_p: z.number().min(0).max(1).optional(),
    stop: z.array(z.string().min(1).max(64)).max(MAX_STOP_SEQUENCES).optional(),
    /** OpenAI's penalties over the tokens generated so far (node-llama-cpp's repeatPenalty). */
    frequency_penalty: z.number().min(-2).max(2).optional(),
    presence_penalty: z.number().min(-2).max(2).optional(),
    /** Token id → logit offset (-100 bans, 100 forces), as OpenAI's logit_bias. */
    logit_bias: z.record(z.string().regex(/^\d{1,9}$/, 'logit_bias keys are token ids'), z.number().min(-100).max(100)).optional(),
    response_format: WireResponseFormatSchema.optional(),
    tools: z.array(WireToolSchema).min(1).max(128).optional(),
    tool_choice: WireToolChoiceSchema.optional(),
    parallel_tool_calls: z.boolean().optional(),
    /** Per-token log probabilities on the token events (paid only when asked). */
    logprobs: z.boolean().optional(),
    top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).optional(),
    /** Never end on the model's end-of-generation token (as llama.cpp's server): benchmarks, tests. */
    ignore_eos: z.boolean().optional(),
    /** The model the caller expects; a worker rejects a mismatch with MODEL_NOT_FOUND. */
    model: z.string().min(1).max(256).optional(),
  })
  .strict()
  .refine((r) => (r.prompt === undefined) !== (r.messages === undefined), {
    message: 'Give exactly one of prompt or messages',
    path: ['prompt'],
  })
  .refine((r) => r.tools === undefined || r.messages !== undefined, { message: 'tools need chat messages', path: ['tools'] })
  .refine((r) => r.tools === undefined || r.response_format === undefined || r.response_format.type === 'text', {
    message: 'tools and a JSON response_format cannot be combined',
    path: ['response_format'],
  })
  .refine((r) => (r.messages ?? []).reduce((n, m) => n + m.content.length, 0) <= PROMPT_MAX_CHARS, {
    message: `messages hold more than ${PROMPT_MAX_CHARS} characters in all`,
    path: ['messages'],
  });

export type InferenceRequest = z.input<typeof InferenceRequestSchema>;
export type ParsedInferenceRequest = z.output<typeof InferenceRequestSchema>;

/** `tool_calls`: the model called tools (the calls arrive as `tool_call` events before `end`). */
export type StopReason = 'max_tokens' | 'eos' | 'stop_sequence' | 'cancelled' | 'deadline' | 'tool_calls';

/** The worker's SSE events, in order: started, token*, end | error, then `data: [DONE]`. */
export interface StartedEvent {
  type: 'started';
  job_id: string;
  model: string;
  /** Epoch ms at which the worker stops generating (stop reason `deadline`). */
  deadline_at?: number;
  /** `hive/worker` serving it: added by the queen for the dashboard (HTTP: the `x-rbee-worker` header). */
  worker?: string;
}
export interface TokenEvent {
  type: 'token';
  /** Text of this token (may be a partial UTF-8 sequence rendered as empty until complete). */
  t: string;
  /** Zero-based index of the token in this job. */
  i: number;
  /** Only when the request asked for logprobs: one entry per token this text covers. */
  lp?: TokenLogprob[];
}
/** A token's log probability and the most likely alternatives (OpenAI's logprobs content item). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}
/** One complete tool call the model made (sent before `end`, whose stop reason is `tool_calls`). */
export interface ToolCallEvent {
  type: 'tool_call';
  index: number;
  id: string;
  name: string;
  /** The arguments as JSON text. */
  arguments: string;
}
export interface EndEvent {
  type: 'end';
  /** Prompt tokens the worker evaluated (after the chat template). */
  tokens_in?: number;
  tokens_out: number;
  decode_ms: number;
  stop_reason: StopReason;
}
export interface ErrorEvent {
  type: 'error';
  code: string;
  message: string;
}
export type InferenceEvent = StartedEvent | TokenEvent | ToolCallEvent | EndEvent | ErrorEvent;

/** Wire form: `event: <type>\ndata: <json without type>\n\n`. */
export function encodeSseEvent(event: InferenceEvent): string {
  const { type, ...data } = event;
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export const SSE_DONE = 'data: [DONE]\n\n';

/** Parses one message of the worker stream; `'done'` for `[DONE]`, undefined for an empty data line. */
export function parseInferenceBlock(block: Pick<SseMessage, 'event' | 'data'>): InferenceEvent | 'done' | undefined {
  if (block.data === '[DONE]') return 'done';
  if (block.data === '') return undefined;
  const parsed = JSON.parse(block.data) as Record<string, unknown>;
  return { type: block.event, ...parsed } as InferenceEvent;
}

/** The characters a JSON escape may name after its backslash (`u` is followed by 4 hex digits). */
const JSON_ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * The text of a plain token event as its JSON string literal, quotes included, without parsing the
 * event: `data` must be exactly `{"t":"…","i":N}` (what {@link encodeSseEvent} writes for a token
 * without logprobs). The queen puts this literal into an OpenAI chunk as it is, so a token costs it
 * neither a JSON.parse nor a JSON.stringify (docs/benchmarks.md). The literal is checked to be one
 * well-formed JSON string (no raw quote, control character or unknown escape inside); any other shape
 * (logprobs, another key order, a malformed literal) returns undefined and is parsed as usual.
 */
export function tokenTextLiteral(data: string): string | undefined {
  const end = data.length - 1;
  if (!data.startsWith('{"t":"') || data.charCodeAt(end) !== 0x7d /* } */) return undefined;
  // `,"i":` holds a quote after a comma, which no JSON string has inside: the first one is the key.
  const close = data.indexOf('","i":', 6);
  if (close < 0 || close + 6 >= end) return undefined;
  for (let k = close + 6; k < end; k++) {
    const c = data.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  for (let k = 6; k < close; k++) {
    const c = data.charCodeAt(k);
    if (c === 0x22 || c < 0x20) return undefined;
    if (c !== 0x5c /* \ */) continue;
    const escaped = data[k + 1] ?? '';
    if (escaped === 'u') {
      if (!HEX4.test(data.slice(k + 2, k + 6))) return undefined;
      k += 5;
    } else if (JSON_ESCAPES.has(escaped) && k + 1 < close) {
      k += 1;
    } else {
      return undefined;
    }
  }
  return data.slice(5, close + 1);
}

/**
 * Incremental SSE parser for the worker stream (also used by the queen and CLI).
 * Feed it text chunks; it yields complete events and `'done'` for `[DONE]`.
 */
export class InferenceSseParser {
  private readonly blocks = new SseParser();

  push(chunk: string): Array<InferenceEvent | 'done'> {
    const out: Array<InferenceEvent | 'done'> = [];
    for (const block of this.blocks.push(chunk)) {
      const event = parseInferenceBlock(block);
      if (event !== undefined) out.push(event);
    }
    return out;
  }
}
