import { API_KEY_SCOPES, CreateApiKeySchema, parseDuration, type ApiKeyScope, type CreateApiKeyRequest } from '../../src-shared/control/apiKeys.js';

/** The "Create a key" form as typed. */
export interface KeyDraft {
  name: string;
  scope: ApiKeyScope;
  /** Comma-separated model names; empty = every model. */
  models: string;
  rpm: string;
  maxConcurrent: string;
  /** `30d`, `12h`, … ; empty = never. */
  expires: string;
}

export const EMPTY_KEY_DRAFT: KeyDraft = { name: '', scope: 'inference', models: '', rpm: '', maxConcurrent: '', expires: '' };
export { API_KEY_SCOPES };

export type KeyDraftErrors = Partial<Record<keyof KeyDraft, string>>;

function optionalInt(raw: string, label: string, errors: KeyDraftErrors, field: keyof KeyDraft): number | undefined {
  const text = raw.trim();
  if (text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    errors[field] = `${label} must be a whole number of at least 1.`;
    return undefined;
  }
  return n;
}

/** Pure: the draft → a request the control API accepts (the same zod schema), or field errors. */
export function parseKeyDraft(draft: KeyDraft): { ok: true; value: CreateApiKeyRequest } | { ok: false; errors: KeyDraftErrors } {
  const errors: KeyDraftErrors = {};
  const models = draft.models
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  const rpm = optionalInt(draft.rpm, 'Requests per minute', errors, 'rpm');
  const maxConcurrent = optionalInt(draft.maxConcurrent, 'Concurrent requests', errors, 'maxConcurrent');
  let expiresInMs: number | undefined;
  if (draft.expires.trim() !== '') {
    const ms = parseDuration(draft.expires);
    if (ms === null) errors.expires = 'Expiry is a number and a unit: 30d, 12h, 90m.';
    else expiresInMs = ms;
  }
  const candidate = {
    name: draft.name.trim(),
    scope: draft.scope,
    ...(models.length > 0 ? { models } : {}),
    ...(rpm !== undefined ? { rpm } : {}),
    ...(maxConcurrent !== undefined ? { max_concurrent: maxConcurrent } : {}),
    ...(expiresInMs !== undefined ? { expires_in_ms: expiresInMs } : {}),
  };
  const parsed = CreateApiKeySchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = ({ name: 'name', scope: 'scope', models: 'models', rpm: 'rpm', max_concurrent: 'maxConcurrent', expires_in_ms: 'expires' } as const)[String(issue.path[0]) as 'name'];
      if (field && !errors[field]) errors[field] = field === 'name' && candidate.name === '' ? 'A name is required.' : issue.message;
    }
  }
  if (Object.keys(errors).length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, value: parsed.data };
}
