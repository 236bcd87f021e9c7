import { z } from 'zod';
import { SseParser, type SseMessage } from '../util/SseParser.js';

/** Limits from DESIGN §3 "Worker SSE". */
export const PROMPT_MAX_CHARS = 32_768;
export const MAX_TOKENS_LIMIT = 2048;
export const MAX_STOP_SEQUENCES = 8;

export const MAX_CHAT_MESSAGES = 256;

export const ChatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string().max(PROMPT_MAX_CHARS),
  })
  .strict();
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

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
    stop: z.array(z.string().min(1).max(64)).max(MAX_STOP_SEQUENCES).optional(),
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
  .refine((r) => (r.messages ?? []).reduce((n, m) => n + m.content.length, 0) <= PROMPT_MAX_CHARS, {
    message: `messages hold more than ${PROMPT_MAX_CHARS} characters in all`,
    path: ['messages'],
  });

export type InferenceRequest = z.input<typeof InferenceRequestSchema>;
export type ParsedInferenceRequest = z.output<typeof InferenceRequestSchema>;

export type StopReason = 'max_tokens' | 'eos' | 'stop_sequence' | 'cancelled' | 'deadline';

/** The worker's SSE events, in order: started, token*, end | error, then `data: [DONE]`. */
export interface StartedEvent {
  type: 'started';
  job_id: string;
  model: string;
  /** Epoch ms at which the worker stops generating (stop reason `deadline`). */
  deadline_at?: number;
}
export interface TokenEvent {
  type: 'token';
  /** Text of this token (may be a partial UTF-8 sequence rendered as empty until complete). */
  t: string;
  /** Zero-based index of the token in this job. */
  i: number;
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
export type InferenceEvent = StartedEvent | TokenEvent | EndEvent | ErrorEvent;

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
