import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { isApiErrorBody } from '../../../src-shared/api/ApiError.js';
import { Deadline } from '../../../src-shared/deadline/Deadline.js';
import { AnthropicCountTokensRequestSchema, AnthropicMessagesRequestSchema } from '../../../src-shared/anthropic/anthropicRequests.js';
import type { EndEvent, ToolCallEvent } from '../../../src-shared/worker/inferenceWire.js';
import { parseBody } from '../../common/http/parseBody.js';
import { endingOf } from '../inference/honestEnding.js';
import { serveInference, type InferenceServices } from '../inference/serveInference.js';
import { anthropicErrorType, anthropicStopReason, anthropicToolUse, anthropicWireRequest } from './anthropicMessages.js';

const ANTHROPIC_PATHS = new Set(['/v1/messages', '/v1/messages/count_tokens']);

/** One server-sent event in Anthropic's framing: the event name repeats the data's `type`. */
const event = (data: { type: string } & Record<string, unknown>): string => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Anthropic's Messages API over the same scheduling, deadlines and audit as the OpenAI routes:
 * `POST /v1/messages` (streaming in Anthropic's event format) and `POST /v1/messages/count_tokens`.
 */
export const anthropicRoutes: FastifyPluginAsync<{ services: InferenceServices }> = async (app, { services }) => {
  // Errors on these paths leave in Anthropic's envelope, whatever raised them.
  app.addHook('onSend', async (request, reply, payload) => {
    const path = request.url.split('?')[0] ?? '';
    if (!ANTHROPIC_PATHS.has(path) || reply.statusCode < 400 || typeof payload !== 'string') return payload;
    try {
      const parsed: unknown = JSON.parse(payload);
      if (!isApiErrorBody(parsed)) return payload;
      return JSON.stringify({ type: 'error', error: { type: anthropicErrorType(reply.statusCode), message: parsed.error.message } });
    } catch {
      return payload;
    }
  });

  app.post('/v1/messages/count_tokens', async (request) => {
    const body = parseBody(AnthropicCountTokensRequestSchema, request.body);
    const abort = new AbortController();
    const deadline = Deadline.fromHeaders(request.headers, { maxMs: services.maxDeadlineMs });
    const { response } = await services.dispatcher.countTokens(anthropicWireRequest(body), { deadline, requestId: request.id, signal: abort.signal });
    return { input_tokens: response.tokens_in };
  });

  app.post('/v1/messages', async (request, reply) => {
    const body = parseBody(AnthropicMessagesRequestSchema, request.body);
    const wire = anthropicWireRequest(body);
    const id = `msg_${randomUUID().replaceAll('-', '')}`;
    const calls: Array<Omit<ToolCallEvent, 'type'>> = [];
    // Streaming: the index of the next content block and whether a text block is open.
    let blocks = 0;
    let textOpen = false;
    let outputTokens = 0;
    const closeText = (): string => {
      if (!textOpen) return '';
      textOpen = false;
      return event({ type: 'content_block_stop', index: blocks++ });
    };
    const usage = (end: EndEvent | null) => ({ input_tokens: end?.tokens_in ?? 0, output_tokens: end?.tokens_out ?? 0 });
    await serveInference(services, '/v1/messages', request, reply, wire, {
      stream: body.stream === true,
      onStart: () =>
        event({
          type: 'message_start',
          message: { id, type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
        }) + event({ type: 'ping' }),
      onEvent: (e) => {
        if (e.type === 'token') {
          if (e.t.length === 0) return '';
          const open = textOpen ? '' : event({ type: 'content_block_start', index: blocks, content_block: { type: 'text', text: '' } });
          textOpen = true;
          return open + event({ type: 'content_block_delta', index: blocks, delta: { type: 'text_delta', text: e.t } });
        }
        if (e.type === 'tool_call') {
          const { type: _type, ...call } = e;
          const use = anthropicToolUse(call);
          const closed = closeText();
          const index = blocks++;
          return (
            closed +
            event({ type: 'content_block_start', index, content_block: { ...use, input: {} } }) +
            event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: call.arguments } }) +
            event({ type: 'content_block_stop', index })
          );
        }
        if (e.type === 'end') {
          outputTokens = e.tokens_out;
          // A cut answer (deadline, cancelled on the worker) ends with an error event, never a stop reason.
          const ending = endingOf(e, null);
          if (ending.kind === 'cut') return closeText() + event({ type: 'error', error: { type: anthropicErrorType(ending.status), message: ending.message } });
          return (
            closeText() +
            event({ type: 'message_delta', delta: { stop_reason: anthropicStopReason(e.stop_reason), stop_sequence: null }, usage: { input_tokens: e.tokens_in ?? 0, output_tokens: outputTokens } })
          );
        }
        return event({ type: 'error', error: { type: 'api_error', message: e.message } });
      },
      onClose: () => closeText() + event({ type: 'message_stop' }),
      observe: (e) => {
        if (e.type === 'tool_call') {
          const { type: _type, ...call } = e;
          calls.push(call);
        }
      },
      collect: (text, end) => ({
        id,
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: [...(text.length > 0 ? [{ type: 'text', text }] : []), ...calls.map(anthropicToolUse)],
        stop_reason: anthropicStopReason(end?.stop_reason),
        stop_sequence: null,
        usage: usage(end),
      }),
    });
  });
};
