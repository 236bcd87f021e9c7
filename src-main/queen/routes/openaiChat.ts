import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { ChatCompletionRequest, ContentPart, OpenAiMessage } from '../../../src-shared/openai/openaiRequests.js';
import type { ChatMessage, InferenceRequest, TokenLogprob, ToolCallEvent, WireToolChoice } from '../../../src-shared/worker/inferenceWire.js';

/** What a content part needs that this server's models lack, by part type. */
const MISSING_MODALITY: Record<string, string> = {
  image_url: 'image input (vision)',
  input_image: 'image input (vision)',
  input_audio: 'audio input',
  file: 'file input',
};

/**
 * A message's content as plain text: a string as is, text parts joined by line breaks. Any other part
 * is a 400 that names the modality the model lacks (every model served here takes text only).
 */
function textOf(content: OpenAiMessage['content'], where: string, model: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part: ContentPart, j) => {
      if ((part.type === 'text' || part.type === 'refusal' || part.type === 'input_text') && typeof part.text === 'string') return part.text;
      const missing = MISSING_MODALITY[part.type] ?? `content of type ${part.type}`;
      throw new ApiError(400, 'INVALID_REQUEST', `${where}.content[${j}]: ${missing} is not supported: model ${model} takes text only`);
    })
    .join('\n');
}

/** OpenAI messages → the worker's chat turns (developer is a system turn, as OpenAI itself treats it). */
export function toWireMessages(messages: readonly OpenAiMessage[], model: string): ChatMessage[] {
  return messages.map((message, i) => {
    const where = `messages[${i}]`;
    const content = textOf(message.content, where, model);
    const role = message.role === 'developer' ? 'system' : message.role;
    const wire: ChatMessage = { role, content };
    if (message.name !== undefined) wire.name = message.name;
    if (role === 'assistant' && message.tool_calls?.length) {
      wire.tool_calls = message.tool_calls.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }));
    }
    if (role === 'tool') {
      if (!message.tool_call_id) throw new ApiError(400, 'INVALID_REQUEST', `${where}.tool_call_id: required for a tool message`);
      wire.tool_call_id = message.tool_call_id;
    }
    return wire;
  });
}

function toolChoice(choice: ChatCompletionRequest['tool_choice']): WireToolChoice | undefined {
  if (choice === undefined || typeof choice === 'string') return choice;
  return { name: choice.function.name };
}

/** The worker request for a chat completion. Only fields the client set are sent (plain stays plain). */
export function chatWireRequest(body: ChatCompletionRequest): InferenceRequest & { model: string } {
  const tools = body.tools?.length ? body.tools : undefined;
  const format = body.response_format;
  if (format?.type === 'json_schema' && format.json_schema.schema === undefined) {
    throw new ApiError(400, 'INVALID_REQUEST', 'response_format.json_schema.schema: required');
  }
  const choice = toolChoice(body.tool_choice);
  if (choice !== undefined && typeof choice === 'object' && !tools?.some((t) => t.function.name === choice.name)) {
    throw new ApiError(400, 'INVALID_REQUEST', `tool_choice: no tool named ${choice.name}`);
  }
  if ((choice === 'required' || typeof choice === 'object') && !tools) throw new ApiError(400, 'INVALID_REQUEST', 'tool_choice: needs tools');
  const request: InferenceRequest & { model: string } = {
    model: body.model,
    messages: toWireMessages(body.messages, body.model),
    max_tokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    temperature: body.temperature ?? undefined,
    top_p: body.top_p ?? undefined,
    top_k: body.top_k,
    min_p: body.min_p,
    seed: body.seed ?? undefined,
    stop: typeof body.stop === 'string' ? [body.stop] : (body.stop ?? undefined),
  };
  if (body.ignore_eos) request.ignore_eos = true;
  if (body.frequency_penalty) request.frequency_penalty = body.frequency_penalty;
  if (body.presence_penalty) request.presence_penalty = body.presence_penalty;
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0) request.logit_bias = body.logit_bias;
  if (tools) {
    request.tools = tools.map((t) => ({
      name: t.function.name,
      ...(t.function.description ? { description: t.function.description } : {}),
      ...(t.function.parameters ? { parameters: t.function.parameters } : {}),
    }));
    if (choice !== undefined) request.tool_choice = choice;
    if (body.parallel_tool_calls !== undefined) request.parallel_tool_calls = body.parallel_tool_calls;
  }
  if (format && format.type !== 'text') {
    request.response_format = format.type === 'json_object' ? { type: 'json_object' } : { type: 'json_schema', schema: format.json_schema.schema ?? {} };
  }
  if (body.logprobs) {
    request.logprobs = true;
    request.top_logprobs = body.top_logprobs ?? 0;
  }
  return request;
}

/** OpenAI's `message.tool_calls` entry. */
export function openAiToolCall(call: Omit<ToolCallEvent, 'type'>): { id: string; type: 'function'; function: { name: string; arguments: string } } {
  return { id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } };
}

/** Chat logprobs (`choices[].logprobs`): the worker's entries are already in OpenAI's item shape. */
export function chatLogprobs(entries: readonly TokenLogprob[]): { content: TokenLogprob[]; refusal: null } {
  return { content: [...entries], refusal: null };
}

/** Completions logprobs: the legacy parallel-array shape. */
export function completionLogprobs(
  entries: readonly TokenLogprob[],
  startOffset: number,
): { tokens: string[]; token_logprobs: number[]; top_logprobs: Array<Record<string, number>>; text_offset: number[] } {
  let offset = startOffset;
  const textOffset: number[] = [];
  for (const entry of entries) {
    textOffset.push(offset);
    offset += entry.token.length;
  }
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top_logprobs.map((t) => [t.token, t.logprob]))),
    text_offset: textOffset,
  };
}
