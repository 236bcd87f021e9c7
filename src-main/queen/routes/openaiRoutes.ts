import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isApiErrorBody } from '../../../src-shared/api/ApiError.js';
import { ChatMessageSchema, MAX_TOKENS_LIMIT, PROMPT_MAX_CHARS, SSE_DONE, type EndEvent, type ErrorEvent, type StopReason } from '../../../src-shared/worker/inferenceWire.js';
import { parseBody } from '../../common/http/parseBody.js';
import type { ClusterView } from '../cluster/ClusterView.js';
import { endingOf, partialOf } from '../inference/honestEnding.js';
import { serveInference, type InferenceServices } from '../inference/serveInference.js';
import type { PoolForwarder, PoolRoute } from '../pools/PoolForwarder.js';
import type { PoolRegistry } from '../pools/PoolRegistry.js';

/** External engines behind the queen (docs/pools.md): a model id can resolve to a pool instead of a worker. */
export interface PoolRouting {
  registry: PoolRegistry;
  forwarder: PoolForwarder;
}

/** Fields OpenAI clients commonly send that we accept and ignore (documented in docs/api.md). */
const ignored = {
  user: z.string().max(256).optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  logit_bias: z.record(z.string(), z.number()).optional(),
  n: z.literal(1).optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).strict().optional(),
};

const common = {
  model: z.string().min(1).max(256),
  stream: z.boolean().optional(),
  max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  stop: z.union([z.string().min(1).max(64), z.array(z.string().min(1).max(64)).max(4)]).optional(),
  ...ignored,
};

const ChatCompletionSchema = z
  .object({
    ...common,
    messages: z.array(ChatMessageSchema).min(1).max(256),
    max_completion_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).optional(),
  })
  .strict();

const CompletionSchema = z
  .object({
    ...common,
    prompt: z.union([z.string().min(1).max(PROMPT_MAX_CHARS), z.array(z.string().min(1).max(PROMPT_MAX_CHARS)).length(1)]),
  })
  .strict();

const OPENAI_PATHS = new Set(['/v1/chat/completions', '/v1/completions', '/v1/models']);

/** Only for complete endings (honestEnding.ts): a cut answer never gets a finish_reason. */
function finishReason(reason: StopReason | undefined): 'stop' | 'length' {
  return reason === 'max_tokens' ? 'length' : 'stop';
}

/** A stream's end event: the finish chunk when complete, else the error frame of the cut (then [DONE]). */
function streamEnding(end: EndEvent, finish: (reason: 'stop' | 'length') => string): string {
  const ending = endingOf(end, null);
  return ending.kind === 'complete' ? finish(finishReason(end.stop_reason)) : sseError({ type: 'error', code: ending.code, message: ending.message });
}

/** `error.partial` of a cut non-streaming answer: the text so far and its usage. */
function partial(text: string, end: EndEvent | null, tokens: number): { text: string; usage: ReturnType<typeof usage> } {
  return { text, usage: end ? usage(end) : { prompt_tokens: 0, completion_tokens: tokens, total_tokens: tokens } };
}

function usage(end: EndEvent | null): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const completion = end?.tokens_out ?? 0;
  const prompt = end?.tokens_in ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

const sse = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;

/** A failure inside a started stream, as OpenAI clients expect it. */
const sseError = (event: ErrorEvent): string =>
  sse({ error: { message: event.message, type: 'server_error', param: null, code: event.code.toLowerCase() } });

/** OpenAI error types by status, so SDKs raise the right exception class. */
function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429 || status === 503) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/**
 * The OpenAI-compatible surface: chat completions, completions and models, streaming and not,
 * errors in OpenAI's envelope. Requests become worker requests (chat messages are rendered by the
 * worker with the model's own template).
 */
export function registerOpenAiRoutes(app: FastifyInstance, services: InferenceServices, view: ClusterView, pools?: PoolRouting): void {
  const servedByHives = (model: string): boolean => view.allModels().some((m) => m.name === model) || view.allWorkers().some((w) => w.model === model);
  /**
   * The one routing hook for pools: a model id that resolves to a pool is forwarded there with the
   * client's body as sent (tools and other fields the engine supports pass through); the engine
   * validates it. Everything else goes on to the hives' schema and scheduler.
   */
  const forwardedToPool = async (route: PoolRoute, request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const raw = request.body;
    if (!pools || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
    const model = (raw as { model?: unknown }).model;
    if (typeof model !== 'string' || model.length === 0 || model.length > 256) return false;
    const target = pools.registry.resolve(model, servedByHives);
    if (!target) return false;
    await pools.forwarder.forward(target, route, raw as Record<string, unknown>, request, reply);
    return true;
  };

  // Every error on these paths, incl. auth and body parsing, leaves in OpenAI's envelope.
  app.addHook('onSend', async (request, reply, payload) => {
    const path = request.url.split('?')[0] ?? '';
    if (!OPENAI_PATHS.has(path) || reply.statusCode < 400 || typeof payload !== 'string') return payload;
    try {
      const parsed: unknown = JSON.parse(payload);
      if (!isApiErrorBody(parsed)) return payload;
      const cut = partialOf(parsed.error.details);
      return JSON.stringify({
        error: {
          message: parsed.error.message,
          type: openAiErrorType(reply.statusCode),
          param: null,
          code: parsed.error.code.toLowerCase(),
          ...(cut === undefined ? {} : { partial: cut }),
        },
      });
    } catch {
      return payload;
    }
  });

  app.get('/v1/models', async (request) => {
    const allowed = request.principal?.models ?? null;
    const names = new Map<string, string>();
    for (const m of view.allModels()) names.set(m.name, m.hive);
    for (const w of view.allWorkers()) if (!names.has(w.model)) names.set(w.model, w.hive);
    return {
      object: 'list',
      data: [
        ...[...names].map(([id, hive]) => ({ id, object: 'model', created: 0, owned_by: `rbee:${hive}` })),
        ...(pools?.registry.models() ?? []).map(({ id, pool }) => ({ id, object: 'model', created: 0, owned_by: `pool:${pool}` })),
      ].filter(({ id }) => allowed === null || allowed.includes(id)),
    };
  });

  app.post('/v1/chat/completions', async (request, reply) => {
    if (await forwardedToPool('/chat/completions', request, reply)) return;
    const body = parseBody(ChatCompletionSchema, request.body);
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, string>, finish: string | null): string =>
      sse({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] });
    let end: EndEvent | null = null;
    await serveInference(
      services,
      '/v1/chat/completions',
      request,
      reply,
      {
        model: body.model,
        messages: body.messages,
        max_tokens: body.max_completion_tokens ?? body.max_tokens,
        temperature: body.temperature,
        top_p: body.top_p,
        seed: body.seed,
        stop: typeof body.stop === 'string' ? [body.stop] : body.stop,
      },
      {
        stream: body.stream === true,
        onStart: () => chunk({ role: 'assistant', content: '' }, null),
        onEvent: (event) => {
          if (event.type === 'token') return chunk({ content: event.t }, null);
          if (event.type === 'end') {
            end = event;
            return streamEnding(event, (reason) => chunk({}, reason));
          }
          return sseError(event);
        },
        onClose: () =>
          (body.stream_options?.include_usage ? sse({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: usage(end) }) : '') + SSE_DONE,
        collect: (text, endEvent) => ({
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finishReason(endEvent?.stop_reason), logprobs: null }],
          usage: usage(endEvent),
        }),
        partial,
      },
    );
  });

  app.post('/v1/completions', async (request, reply) => {
    if (await forwardedToPool('/completions', request, reply)) return;
    const body = parseBody(CompletionSchema, request.body);
    const prompt = Array.isArray(body.prompt) ? body.prompt[0]! : body.prompt;
    const id = `cmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (text: string, finish: string | null): string =>
      sse({ id, object: 'text_completion', created, model: body.model, choices: [{ index: 0, text, finish_reason: finish, logprobs: null }] });
    let end: EndEvent | null = null;
    await serveInference(
      services,
      '/v1/completions',
      request,
      reply,
      {
        model: body.model,
        prompt,
        max_tokens: body.max_tokens ?? 16,
        temperature: body.temperature,
        top_p: body.top_p,
        seed: body.seed,
        stop: typeof body.stop === 'string' ? [body.stop] : body.stop,
      },
      {
        stream: body.stream === true,
        onEvent: (event) => {
          if (event.type === 'token') return chunk(event.t, null);
          if (event.type === 'end') {
            end = event;
            return streamEnding(event, (reason) => chunk('', reason));
          }
          return sseError(event);
        },
        onClose: () =>
          (body.stream_options?.include_usage ? sse({ id, object: 'text_completion', created, model: body.model, choices: [], usage: usage(end) }) : '') + SSE_DONE,
        collect: (text, endEvent) => ({
          id,
          object: 'text_completion',
          created,
          model: body.model,
          choices: [{ index: 0, text, finish_reason: finishReason(endEvent?.stop_reason), logprobs: null }],
          usage: usage(endEvent),
        }),
        partial,
      },
    );
  });
}
