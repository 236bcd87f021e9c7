import type { ApiKeyInfo } from '../../src-shared/control/apiKeys.js';

/** An ApiKeyInfo for fakes of ControlApi (renderer and Electron tests). */
export function fakeApiKey(overrides: Partial<ApiKeyInfo> = {}): ApiKeyInfo {
  return {
    id: 'a1b2c3',
    fingerprint: 'token:a1b2c3',
    name: 'notebook',
    scope: 'inference',
    models: null,
    rpm: null,
    max_concurrent: null,
    created_at: 1_700_000_000_000,
    expires_at: null,
    revoked_at: null,
    usage: { requests: 0, tokens_in: 0, tokens_out: 0, rate_limited: 0, last_used_at: null },
    ...overrides,
  };
}
