import type { IncomingHttpHeaders } from 'node:http';

/** Anthropic's SDK sends its API version on every request; nothing else does. */
export function isAnthropicRequest(headers: IncomingHttpHeaders): boolean {
  return typeof headers['anthropic-version'] === 'string';
}

/** `GET /v1/models` in Anthropic's list shape. */
export function anthropicModelList(models: ReadonlyMap<string, { created: number }>): {
  data: Array<{ type: 'model'; id: string; display_name: string; created_at: string }>;
  has_more: false;
  first_id: string | null;
  last_id: string | null;
} {
  const data = [...models].map(([id, m]) => ({ type: 'model' as const, id, display_name: id, created_at: new Date(m.created * 1000).toISOString() }));
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
