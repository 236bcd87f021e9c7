import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { AnthropicCountTokensRequest, AnthropicMessage, AnthropicMessagesRequest } from '../../../src-shared/anthropic/anthropicRequests.js';
import type { ChatMessage, InferenceRequest, StopReason, ToolCallEvent, WireToolChoice } from '../../../src-shared/worker/inferenceWire.js';

/** What a block needs that this server's models lack, by block type. */
const MISSING_MODALITY: Record<string, string> = {
  image: 'image input (vision)',
  document: 'document input',
  search_result: 'search results',
  container_upload: 'file uploads',
};
/** Blocks a client echoes from an earlier answer that carry nothing the models here need. */
const HISTORY_ONLY = new Set(['thinking', 'redacted_thinking']);

function textOfResult(content: string | Array<{ type: string; text?: string }> | undefined, where: string, model: string): string {
  if (content === undefined) return '';
  if (typeof content === 'string') return content;
  return content
    .map((block, j) => {
      if (block.type === 'text' && typeof block.text === 'string') return block.text;
      throw new ApiError(400, 'INVALID_REQUEST', `${where}.content[${j}]: ${MISSING_MODALITY[block.type] ?? `a ${block.type} block`} is not supported: model ${model} takes text only`);
    })
    .join('\n');
}

/**
 * Anthropic messages → the worker's chat turns. A user turn's tool_result blocks become tool turns
 * (before its text, as they answer the previous assistant turn); an assistant turn's tool_use blocks
 * become its tool calls.
 */
function toWireMessages(body: AnthropicCountTokensRequest): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (body.system !== undefined) {
    const system = typeof body.system === 'string' ? body.system : body.system.map((b) => b.text).join('\n');
    if (system.length > 0) out.push({ role: 'system', content: system });
  }
  body.messages.forEach((message: AnthropicMessage, i) => {
    const where = `messages[${i}]`;
    if (typeof message.content === 'string') {
      out.push({ role: message.role, content: message.content });
      return;
    }
    const texts: string[] = [];
    const calls: NonNullable<ChatMessage['tool_calls']> = [];
    message.content.forEach((block, j) => {
      const at = `${where}.content[${j}]`;
      if (block.type === 'text' && 'text' in block && typeof block.text === 'string') texts.push(block.text);
      else if (block.type === 'tool_use' && message.role === 'assistant' && 'id' in block && 'name' in block) {
        calls.push({ id: String(block.id), name: String(block.name), arguments: JSON.stringify(block.input ?? {}) });
      } else if (block.type === 'tool_result' && message.role === 'user' && 'tool_use_id' in block) {
        const content = textOfResult(block.content as string | Array<{ type: string; text?: string }> | undefined, at, body.model);
        out.push({ role: 'tool', tool_call_id: String(block.tool_use_id), content: block.is_error === true ? `Error: ${content}` : content });
      } else if (!HISTORY_ONLY.has(block.type)) {
        throw new ApiError(400, 'INVALID_REQUEST', `${at}: ${MISSING_MODALITY[block.type] ?? `a ${block.type} block`} is not supported${MISSING_MODALITY[block.type] ? `: model ${body.model} takes text only` : ` in a ${message.role} turn`}`);
      }
    });
    if (texts.length > 0 || calls.length > 0) {
      out.push({ role: message.role, content: texts.join('\n'), ...(calls.length > 0 ? { tool_calls: calls } : {}) });
    }
  });
  return out;
}

function toolChoice(choice: AnthropicCountTokensRequest['tool_choice']): WireToolChoice | undefined {
  if (!choice) return undefined;
  if (choice.type === 'any') return 'required';
  if (choice.type === 'tool') return { name: choice.name };
  return choice.type;
}

/** The worker request for an Anthropic conversation (shared by messages and count_tokens). */
export function anthropicWireRequest(body: AnthropicCountTokensRequest & Partial<AnthropicMessagesRequest>): InferenceRequest & { model: string } {
  const request: InferenceRequest & { model: string } = {
    model: body.model,
    messages: toWireMessages(body),
    max_tokens: body.max_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
    top_k: body.top_k,
    stop: body.stop_sequences,
  };
  if (body.tools?.length) {
    request.tools = body.tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.input_schema }));
    const choice = toolChoice(body.tool_choice);
    if (choice !== undefined) request.tool_choice = choice;
    if (typeof choice === 'object' && !body.tools.some((t) => t.name === choice.name)) throw new ApiError(400, 'INVALID_REQUEST', `tool_choice: no tool named ${choice.name}`);
  }
  return request;
}

export type AnthropicStopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal' | 'pause_turn';

export function anthropicStopReason(reason: StopReason | undefined): AnthropicStopReason {
  if (reason === 'tool_calls') return 'tool_use';
  if (reason === 'stop_sequence') return 'stop_sequence';
  if (reason === 'eos') return 'end_turn';
  return 'max_tokens';
}

/** Anthropic's tool ids start with `toolu_`; the worker's OpenAI-style `call_` suffix is kept. */
export function anthropicToolUse(call: Omit<ToolCallEvent, 'type'>): { type: 'tool_use'; id: string; name: string; input: unknown } {
  return { type: 'tool_use', id: call.id.replace(/^call_/, 'toolu_'), name: call.name, input: JSON.parse(call.arguments) };
}

/** Anthropic's error types by status, so its SDK raises the right exception class. */
export function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}
