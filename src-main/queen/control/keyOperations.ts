import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import { ApiKeyIdSchema, CreateApiKeySchema, type ApiKeyInfo, type CreatedApiKey } from '../../../src-shared/control/apiKeys.js';
import type { ApiKeyStore } from '../../auth/ApiKeyStore.js';
import { parseBody } from '../../common/http/parseBody.js';

/** Who asked, for the audit record (`token:<fp6>` over HTTP, `operator` in the desktop app). */
export interface KeyActor {
  actor: string;
  client_ip?: string;
  request_id?: string;
}

/**
 * Creating and revoking scoped API keys, audited (`key_created`, `key_revoked`): one implementation
 * for the control routes and the in-process ControlApi (the desktop app's Settings view).
 */
export async function createApiKey(keys: ApiKeyStore, audit: AuditSink, body: unknown, who: KeyActor, onAuditError?: (error: unknown) => void): Promise<CreatedApiKey> {
  const request = parseBody(CreateApiKeySchema, body);
  const created = await keys.create(request);
  await audit
    .emit({
      event_type: 'key_created',
      ...who,
      details: { key: created.fingerprint, name: created.name, scope: created.scope, models: created.models?.join(',') ?? null, expires_at: created.expires_at },
    })
    .catch((error: unknown) => onAuditError?.(error));
  return created;
}

export async function revokeApiKey(keys: ApiKeyStore, audit: AuditSink, rawId: string, who: KeyActor, onAuditError?: (error: unknown) => void): Promise<ApiKeyInfo> {
  const id = ApiKeyIdSchema.safeParse(rawId);
  if (!id.success) throw new ApiError(400, 'INVALID_REQUEST', `Key id: ${id.error.issues[0]?.message ?? 'malformed'}`);
  const revoked = await keys.revoke(id.data);
  if (!revoked) throw new ApiError(404, 'NOT_FOUND', `No API key ${id.data}`);
  await audit
    .emit({ event_type: 'key_revoked', ...who, details: { key: revoked.fingerprint, name: revoked.name } })
    .catch((error: unknown) => onAuditError?.(error));
  return revoked;
}
