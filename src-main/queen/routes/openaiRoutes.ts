import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, isApiErrorBody } from '../../../src-shared/api/ApiError.js';
import { ChatCompletionRequestSchema, CompletionRequestSchema } from '../../../src-shared/openai/openaiRequests.js';
import { SSE_DONE, type EndEvent, type ErrorEvent, type StopReason, type TokenLogprob, type ToolCallEvent } from '../../../src-shared/worker/inferenceWire.js';
import { parseBody } from '../../common/http/parseBody.js';
import type { ClusterView } from '../cluster/ClusterView.js';
import { endingOf, partialOf } from '../inference/honestEnding.js';
import { serveInference, type InferenceServices } from '../inference/serveInference.js';
import { anthropicModelList, isAnthropicRequest } from './anthropicShapes.js';
import { registerEmbeddingsRoute } from './embeddingsRoute.js';
import { chatLogprobs, chatWireRequest, completionLogprobs, openAiToolCall } from './openaiChat.js';
import { createRouter, type PoolRouting } from './poolRouting.js';

const OPENAI_PATHS = new Set(['/v1/chat/completions', '/v1/completions', '/v1/models', '/v1/embeddings']);
const isOpenAiPath = (path: string): boolean => OPENAI_PATHS.has(path) || path.startsWith('/v1/models/');

type FinishReason = 'stop' | 'length' | 'tool_calls';

/** Only for complete endings (honestEnding.ts): a cut answer never gets a finish_reason. */
function finishReason(reason: StopReason | undefined): FinishReason {
  if (reason === 'tool_calls') return 'tool_calls';
  return reason === 'max_tokens' ? 'length' : 'stop';
}

/** A stream's end event: the finish chunk when complete, else the error frame of the cut (then [DONE]). */
function streamEnding(end: EndEvent, finish: (reason: FinishReason) => string): string {
  const ending = endingOf(end, null);
  return ending.kind === 'complete' ? finish(finishReason(end.stop_reason)) : sseError({ type: 'error', code: ending.code, message: ending.message });
}

/** `error.partial` of a cut non-streaming answer: the text so far and its usage. */
function partial(text: string, end: EndEvent | null, tokens: number): { text: string; usage: ReturnType<typeof usage> } {
  return { text, usage: end ? usage(end) : { prompt_tokens: 0, completion_tokens: tokens, total_tokens: tokens } };
}

/** llama.cpp's `timings` extension on the usage chunk: the worker's own decode time, for a client's tokens/s. */
function timings(end: EndEvent | null): { timings?: { predicted_n: number; predicted_ms: number } } {
  return end ? { timings: { predicted_n: end.tokens_out, predicted_ms: end.decode_ms } } : {};
}

function usage(end: EndEvent | null): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const completion = end?.tokens_out ?? 0;
  const prompt = end?.tokens_in ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

const sse = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;

/** Stands for a token's text while a chunk's frame is built (no JSON encoding changes it). */
const FRAME_MARK = '\u0000rbee-token\u0000';
const FRAME_MARK_JSON = JSON.stringify(FRAME_MARK);

/** The text around the mark's JSON string in one encoded chunk: a token's literal goes between. */
function frameAround(encoded: string): { before: string; after: string } {
  const at = encoded.lastIndexOf(FRAME_MARK_JSON);
  return { before: encoded.slice(0, at), after: encoded.slice(at + FRAME_MARK_JSON.length) };
}

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
export const openAiRoutes: FastifyPluginAsync<{ services: InferenceServices; view: ClusterView; pools?: PoolRouting }> = async (app, { services, view, pools }) => {
  const routed = createRouter(view, pools);

  // Every error on these paths, incl. auth and body parsing, leaves in OpenAI's envelope.
  app.addHook('onSend', async (request, reply, payload) => {
    const path = request.url.split('?')[0] ?? '';
    if (!isOpenAiPath(path) || reply.statusCode < 400 || typeof payload !== 'string') return payload;
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

  /**
   * Catalog models, running workers' models and pools' models by id (those the caller's key may use),
   * with their owner (`rbee:<hive>` or `pool:<pool>`).
   */
  const models = (allowed: readonly string[] | null): Map<string, { owner: string; created: number }> => {
    const byId = new Map<string, { owner: string; created: number }>();
    for (const m of view.allModels()) if (!byId.has(m.name)) byId.set(m.name, { owner: `rbee:${m.hive}`, created: Math.floor((m.modified_ms ?? 0) / 1000) });
    for (const w of view.allWorkers()) if (!byId.has(w.model)) byId.set(w.model, { owner: `rbee:${w.hive}`, created: 0 });
    for (const { id, pool } of pools?.registry.models() ?? []) if (!byId.has(id)) byId.set(id, { owner: `pool:${pool}`, created: 0 });
    if (allowed !== null) for (const id of byId.keys()) if (!allowed.includes(id)) byId.delete(id);
    return byId;
  };
  const modelObject = (id: string, m: { owner: string; created: number }) => ({ id, object: 'model', created: m.created, owned_by: m.owner });

  app.get('/v1/models', async (request) => {
    const all = models(request.principal?.models ?? null);
    // Anthropic's SDK lists models on the same path; its version header picks its shape.
    if (isAnthropicRequest(request.headers)) return anthropicModelList(all);
    return { object: 'list', data: [...all].map(([id, m]) => modelObject(id, m)) };
  });

  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request) => {
    const id = request.params['*'];
    const model = models(request.principal?.models ?? null).get(id);
    if (!model) throw new ApiError(404, 'MODEL_NOT_FOUND', `The model '${id}' does not exist`);
    return modelObject(id, model);
  });

  app.post('/v1/chat/completions', (request, reply) => routed('/chat/completions', request, reply, () => chatViaHives(request, reply)));
  const chatViaHives = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = parseBody(ChatCompletionRequestSchema, request.body);
    const wire = chatWireRequest(body);
    const withLogprobs = body.logprobs === true;
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, finish: string | null, lp?: TokenLogprob[]): string =>
      sse({
        id,
        object: 'chat.completion.chunk',
        created,
        model: body.model,
        choices: [{ index: 0, delta, ...(withLogprobs ? { logprobs: lp ? chatLogprobs(lp) : null } : {}), finish_reason: finish }],
      });
    // A content chunk is a fixed frame around the token's text: built once, the worker's JSON string
    // literal goes in between (byte for byte what `chunk({ content }, null)` writes).
    const contentFrame = frameAround(chunk({ content: FRAME_MARK }, null));
    let end: EndEvent | null = null;
    const calls: Array<Omit<ToolCallEvent, 'type'>> = [];
    const logprobs: TokenLogprob[] = [];
    await serveInference(services, '/v1/chat/completions', request, reply, wire, {
      stream: body.stream === true,
      onStart: () => chunk({ role: 'assistant', content: '' }, null),
      ...(withLogprobs ? {} : { onTokenLiteral: (literal: string) => contentFrame.before + literal + contentFrame.after }),
      onEvent: (event) => {
        if (event.type === 'token') return chunk({ content: event.t }, null, event.lp);
        if (event.type === 'tool_call') {
          const { type: _type, ...call } = event;
          return chunk({ tool_calls: [{ index: call.index, ...openAiToolCall(call) }] }, null);
        }
        if (event.type === 'end') {
          end = event;
          return streamEnding(event, (reason) => chunk({}, reason));
        }
        return sseError(event);
      },
      onClose: () =>
        (body.stream_options?.include_usage ? sse({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: usage(end), ...timings(end) }) : '') + SSE_DONE,
      observe: (event) => {
        if (event.type === 'tool_call') {
          const { type: _type, ...call } = event;
          calls.push(call);
        }
        if (event.type === 'token' && event.lp) logprobs.push(...event.lp);
      },
      collect: (text, endEvent) => ({
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: calls.length > 0 && text.length === 0 ? null : text,
              refusal: null,
              ...(calls.length > 0 ? { tool_calls: calls.map(openAiToolCall) } : {}),
            },
            finish_reason: finishReason(endEvent?.stop_reason),
            logprobs: withLogprobs ? chatLogprobs(logprobs) : null,
          },
        ],
        usage: usage(endEvent),
      }),
      partial,
    });
  };

  registerEmbeddingsRoute(app, services, routed);

  app.post('/v1/completions', (request, reply) => routed('/completions', request, reply, () => completionViaHives(request, reply)));
  const completionViaHives = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = parseBody(CompletionRequestSchema, request.body);
    const prompt = Array.isArray(body.prompt) ? body.prompt[0]! : body.prompt;
    const withLogprobs = typeof body.logprobs === 'number';
    const id = `cmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    let streamedChars = 0;
    const chunk = (text: string, finish: string | null, lp?: TokenLogprob[]): string => {
      const logprobs = withLogprobs && lp ? completionLogprobs(lp, streamedChars) : null;
      streamedChars += text.length;
      return sse({ id, object: 'text_completion', created, model: body.model, choices: [{ index: 0, text, finish_reason: finish, logprobs }] });
    };
    const textFrame = frameAround(sse({ id, object: 'text_completion', created, model: body.model, choices: [{ index: 0, text: FRAME_MARK, finish_reason: null, logprobs: null }] }));
    let end: EndEvent | null = null;
    const logprobs: TokenLogprob[] = [];
    await serveInference(
      services,
      '/v1/completions',
      request,
      reply,
      {
        model: body.model,
        prompt,
        max_tokens: body.max_tokens ?? 16,
        temperature: body.temperature ?? undefined,
        top_p: body.top_p ?? undefined,
        top_k: body.top_k,
        min_p: body.min_p,
        seed: body.seed ?? undefined,
        stop: typeof body.stop === 'string' ? [body.stop] : (body.stop ?? undefined),
        ...(body.frequency_penalty ? { frequency_penalty: body.frequency_penalty } : {}),
        ...(body.presence_penalty ? { presence_penalty: body.presence_penalty } : {}),
        ...(body.logit_bias && Object.keys(body.logit_bias).length > 0 ? { logit_bias: body.logit_bias } : {}),
        ...(withLogprobs ? { logprobs: true, top_logprobs: body.logprobs ?? 0 } : {}),
      },
      {
        stream: body.stream === true,
        ...(withLogprobs ? {} : { onTokenLiteral: (literal: string) => textFrame.before + literal + textFrame.after }),
        onEvent: (event) => {
          if (event.type === 'token') return chunk(event.t, null, event.lp);
          if (event.type === 'end') {
            end = event;
            return streamEnding(event, (reason) => chunk('', reason));
          }
          if (event.type === 'tool_call') return '';
          return sseError(event);
        },
        onClose: () =>
          (body.stream_options?.include_usage ? sse({ id, object: 'text_completion', created, model: body.model, choices: [], usage: usage(end) }) : '') + SSE_DONE,
        observe: (event) => {
          if (event.type === 'token' && event.lp) logprobs.push(...event.lp);
        },
        collect: (text, endEvent) => ({
          id,
          object: 'text_completion',
          created,
          model: body.model,
          choices: [{ index: 0, text, finish_reason: finishReason(endEvent?.stop_reason), logprobs: withLogprobs ? completionLogprobs(logprobs, 0) : null }],
          usage: usage(endEvent),
        }),
        partial,
      },
    );
  };
};
