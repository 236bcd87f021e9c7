import { z } from 'zod';
import { MAX_STOP_SEQUENCES, PROMPT_MAX_CHARS, type ChatMessage } from '../../src-shared/worker/inferenceWire.js';

/** One finished turn of a conversation, with what the dashboard showed about the answer. */
export const ChatTurnSchema = z.object({
  role: z.enum(['user', 'assistant']),
  content: z.string().max(PROMPT_MAX_CHARS),
  /** Assistant turns: `hive/worker` that served it, tokens, stop reason. */
  worker: z.string().max(300).nullable().optional(),
  tokens: z.number().int().nonnegative().optional(),
  stop_reason: z.string().max(32).nullable().optional(),
});
export type ChatTurn = z.infer<typeof ChatTurnSchema>;

/** What survives a reload: the settled turns, the exchange on screen, and the chat's own settings. */
export const StoredConversationSchema = z.object({
  version: z.literal(1),
  history: z.array(ChatTurnSchema).max(400),
  /** The last exchange (user message + answer), shown under the history until the next send. */
  current: z
    .object({
      user: z.string().max(PROMPT_MAX_CHARS),
      answer: z.string().max(PROMPT_MAX_CHARS * 4),
      worker: z.string().max(300).nullable(),
      tokens: z.number().int().nonnegative(),
      stop_reason: z.string().max(32).nullable(),
    })
    .nullable(),
  system: z.string().max(PROMPT_MAX_CHARS),
  stop: z.string().max(1024),
});
export type StoredConversation = z.infer<typeof StoredConversationSchema>;

/** Stop sequences from the form: comma-separated, trimmed, empty ones dropped, at most the wire's limit. */
export function parseStopList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && s.length <= 64)
    .slice(0, MAX_STOP_SEQUENCES);
}

/**
 * How many characters of history a turn may send: the model's context (tokens; unknown → 4096)
 * minus room for the answer and the template. Counted as if a character were a token, which is
 * exact for byte-level vocabularies (the demo model) and leaves slack for real ones (~4 chars/token).
 */
export function historyBudgetChars(contextLength: number | null, maxTokens: number): number {
  const ctx = contextLength && contextLength > 0 ? contextLength : 4096;
  const reserve = Math.min(maxTokens, Math.floor(ctx / 2)) + 128;
  return Math.max(0, Math.min(PROMPT_MAX_CHARS, ctx - reserve));
}

/**
 * The `messages` of the next turn: the system prompt, then as many of the latest history turns as
 * fit in `budgetChars` (oldest dropped first, whole user+assistant pairs), then the new user
 * message, which is always sent. `dropped` counts the turns left out. Pure.
 */
export function buildChatMessages(input: { system: string; history: readonly ChatTurn[]; prompt: string; budgetChars: number }): { messages: ChatMessage[]; dropped: number } {
  const head: ChatMessage[] = input.system.trim() ? [{ role: 'system', content: input.system }] : [];
  let used = input.system.length + input.prompt.length;
  const kept: ChatMessage[] = [];
  let i = input.history.length;
  while (i > 0) {
    // Walk back one pair (or a lone trailing turn) at a time.
    const start = i >= 2 && input.history[i - 2]!.role === 'user' && input.history[i - 1]!.role === 'assistant' ? i - 2 : i - 1;
    const pair = input.history.slice(start, i);
    const size = pair.reduce((n, t) => n + t.content.length, 0);
    if (used + size > input.budgetChars) break;
    used += size;
    kept.unshift(...pair.map((t) => ({ role: t.role, content: t.content }) satisfies ChatMessage));
    i = start;
  }
  return { messages: [...head, ...kept, { role: 'user', content: input.prompt }], dropped: i };
}

/** localStorage (web and the desktop renderer alike); absent or failing storage just means no persistence. */
export interface ConversationStorage {
  load(key: string): StoredConversation | null;
  save(key: string, value: StoredConversation): void;
  remove(key: string): void;
}

function browserStorage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

export const localConversationStorage: ConversationStorage = {
  load(key) {
    const raw = browserStorage()?.getItem(key);
    if (!raw) return null;
    try {
      const parsed = StoredConversationSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  },
  save(key, value) {
    try {
      browserStorage()?.setItem(key, JSON.stringify(value));
    } catch {
      // Quota or privacy mode: the chat still works, it just does not survive a reload.
    }
  },
  remove(key) {
    try {
      browserStorage()?.removeItem(key);
    } catch {
      // as above
    }
  },
};

export const conversationKey = (run: string): string => `rbee.chat.${run}`;
