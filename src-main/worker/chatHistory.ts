import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, GbnfJsonSchema } from 'node-llama-cpp';
import { toGrammarSchema } from '../../src-shared/openai/grammarSchema.js';
import type { ChatMessage, WireTool } from '../../src-shared/worker/inferenceWire.js';

/** A request node-llama-cpp cannot render or constrain as asked: answered with 400. */
export class UnsupportedRequestError extends Error {
  override readonly name = 'UnsupportedRequestError';
}

function parseJsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Wire messages → node-llama-cpp's chat history. A tool turn becomes the `result` of the call it
 * answers (node-llama-cpp keeps a call and its result together, and each chat wrapper renders the pair
 * in its own syntax); an answer to no call is refused, as OpenAI does.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const openCalls = new Map<string, ChatModelFunctionCall>();
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        history.push({ type: 'system', text: message.content });
        break;
      case 'user':
        history.push({ type: 'user', text: message.content });
        break;
      case 'assistant': {
        const response: Array<string | ChatModelFunctionCall> = message.content.length > 0 ? [message.content] : [];
        for (const call of message.tool_calls ?? []) {
          const item: ChatModelFunctionCall = { type: 'functionCall', name: call.name, params: parseJsonOrText(call.arguments), result: undefined };
          openCalls.set(call.id, item);
          response.push(item);
        }
        history.push({ type: 'model', response });
        break;
      }
      case 'tool': {
        const call = message.tool_call_id === undefined ? undefined : openCalls.get(message.tool_call_id);
        if (!call) throw new UnsupportedRequestError(`a tool message (tool_call_id ${JSON.stringify(message.tool_call_id ?? null)}) answers no earlier assistant tool call`);
        call.result = parseJsonOrText(message.content);
        break;
      }
    }
  }
  return history;
}

/** Parameters schema a tool gets when it declares none: an empty object. */
const NO_PARAMS = { type: 'object', properties: {} } as const;

/** The tools as node-llama-cpp's function list (for the chat wrapper's prompt and for grammars). */
export function toChatFunctions(tools: readonly WireTool[]): ChatModelFunctions {
  const functions: Record<string, { description?: string; params: GbnfJsonSchema }> = {};
  for (const tool of tools) {
    let params: GbnfJsonSchema = NO_PARAMS;
    if (tool.parameters !== undefined) {
      const translated = toGrammarSchema(tool.parameters);
      if (!translated.ok) throw new UnsupportedRequestError(`tool ${tool.name}: its parameters use JSON-schema features the grammar cannot enforce: ${translated.unsupported.join(', ')}`);
      params = translated.schema as GbnfJsonSchema;
    }
    functions[tool.name] = { ...(tool.description ? { description: tool.description } : {}), params };
  }
  return functions;
}

/**
 * The JSON a forced call must take: `{"name": …, "arguments": {…}}` for one of the allowed tools.
 * node-llama-cpp has no "call a function now" switch, so `tool_choice: required` or a named tool is
 * enforced with this grammar: even a model that would never call one returns a well-formed call.
 */
export function forcedCallSchema(functions: ChatModelFunctions, allowed: readonly string[]): GbnfJsonSchema {
  const branches = allowed.map((name) => ({
    type: 'object',
    properties: { name: { const: name }, arguments: functions[name]?.params ?? NO_PARAMS },
    required: ['name', 'arguments'],
  }));
  return (branches.length === 1 ? branches[0] : { oneOf: branches }) as GbnfJsonSchema;
}
