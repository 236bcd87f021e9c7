import { z } from 'zod';

/**
 * Scoped API keys (docs/api.md "API keys and scopes"). `admin` may call everything, `inference` the
 * OpenAI/inference routes (limited to its models), `metrics` only `/metrics`.
 */
export const API_KEY_SCOPES = ['inference', 'metrics', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** An API key id is its fingerprint's six hex digits (`token:<fp6>` names the same key). */
export const ApiKeyIdSchema = z.string().regex(/^[0-9a-f]{6}$/, 'a key id is 6 lower-case hex digits');

const MAX_EXPIRY_MS = 10 * 365 * 86_400_000;

export const CreateApiKeySchema = z
  .object({
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9 ._@-]+$/, 'letters, digits, space and . _ @ - only'),
    scope: z.enum(API_KEY_SCOPES),
    models: z.array(z.string().min(1).max(256)).min(1).max(64).optional(),
    rpm: z.number().int().min(1).max(1_000_000).optional(),
    max_concurrent: z.number().int().min(1).max(10_000).optional(),
    expires_in_ms: z.number().int().min(60_000).max(MAX_EXPIRY_MS).optional(),
  })
  .strict();
export type CreateApiKeyRequest = z.infer<typeof CreateApiKeySchema>;

export interface ApiKeyUsage {
  requests: number;
  tokens_in: number;
  tokens_out: number;
  rate_limited: number;
  /** Epoch ms; null = never used. */
  last_used_at: number | null;
}

export interface ApiKeyInfo {
  id: string;
  /** `token:<fp6>`, as logs and audit records name the key. */
  fingerprint: string;
  name: string;
  scope: ApiKeyScope;
  /** null = every model. */
  models: string[] | null;
  rpm: number | null;
  max_concurrent: number | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  usage: ApiKeyUsage;
}

/** What `POST /v1/control/keys` answers, once: the only time the secret is shown. */
export interface CreatedApiKey extends ApiKeyInfo {
  secret: string;
}

/** `30d`, `12h`, `90m`, `3600s` → milliseconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!match) return null;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(match[1]) * unit;
}
