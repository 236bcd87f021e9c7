import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Counter, Gauge, type Registry } from '../common/metrics/promClient.js';
import type { ApiKeyInfo, ApiKeyScope, ApiKeyUsage, CreateApiKeyRequest, CreatedApiKey } from '../../src-shared/control/apiKeys.js';
import { API_KEY_SCOPES } from '../../src-shared/control/apiKeys.js';

export interface StoredKey {
  id: string;
  name: string;
  scope: ApiKeyScope;
  /** SHA-256 hex of the secret; the secret itself is never stored. */
  sha256: string;
  models: string[] | null;
  rpm: number | null;
  max_concurrent: number | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

interface StoredFile {
  version: 1;
  keys: StoredKey[];
}

export type KeyLookup =
  | { ok: true; key: StoredKey }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired' };

export type Admission = { ok: true; release: () => void } | { ok: false; retryAfterMs: number; limit: 'rpm' | 'concurrency' };

const SECRET_PREFIX = 'rbee_';
const MINUTE_MS = 60_000;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The queen's scoped API keys, kept as SHA-256 hashes in `<data>/api-keys.json` (0600, written
 * atomically). A key is named by its fp6 everywhere; the secret is returned once, at creation.
 * Per-key rate (requests per minute, sliding window) and concurrency are enforced here, and usage
 * is counted in memory and exported to Prometheus.
 */
export class ApiKeyStore {
  private readonly byHash = new Map<string, StoredKey>();
  private readonly usage = new Map<string, ApiKeyUsage>();
  private readonly recent = new Map<string, number[]>();
  private readonly inFlight = new Map<string, number>();
  private readonly requestsMetric: Counter<'key' | 'name'> | undefined;
  private readonly tokensMetric: Counter<'key' | 'direction'> | undefined;
  private readonly inFlightMetric: Gauge<'key'> | undefined;

  private constructor(
    private readonly path: string,
    private keys: StoredKey[],
    private readonly now: () => number,
    registry: Registry | undefined,
  ) {
    for (const key of keys) this.byHash.set(key.sha256, key);
    if (registry) {
      this.requestsMetric = new Counter({ name: 'rbee_api_key_requests_total', help: 'Requests served per API key', labelNames: ['key', 'name'], registers: [registry] });
      this.tokensMetric = new Counter({ name: 'rbee_api_key_tokens_total', help: 'Tokens per API key (in = prompt, out = generated)', labelNames: ['key', 'direction'], registers: [registry] });
      this.inFlightMetric = new Gauge({ name: 'rbee_api_key_in_flight', help: 'Requests in flight per API key', labelNames: ['key'], registers: [registry] });
    }
  }

  static async open(path: string, options: { now?: () => number; registry?: Registry } = {}): Promise<ApiKeyStore> {
    let keys: StoredKey[] = [];
    try {
      const raw = JSON.parse(await readFile(path, 'utf8')) as Partial<StoredFile>;
      keys = (raw.keys ?? []).filter(
        (k): k is StoredKey => typeof k?.id === 'string' && typeof k.sha256 === 'string' && (API_KEY_SCOPES as readonly string[]).includes(k.scope),
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`Cannot read API keys from ${path}: ${(error as Error).message}`);
    }
    return new ApiKeyStore(path, keys, options.now ?? Date.now, options.registry);
  }

  list(): ApiKeyInfo[] {
    return this.keys.map((k) => this.info(k));
  }

  get(id: string): ApiKeyInfo | undefined {
    const key = this.keys.find((k) => k.id === id);
    return key ? this.info(key) : undefined;
  }

  async create(request: CreateApiKeyRequest): Promise<CreatedApiKey> {
    let secret: string;
    let hash: string;
    do {
      secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
      hash = sha256Hex(secret);
    } while (this.keys.some((k) => k.id === hash.slice(0, 6)));
    const now = this.now();
    const key: StoredKey = {
      id: hash.slice(0, 6),
      name: request.name,
      scope: request.scope,
      sha256: hash,
      models: request.models ?? null,
      rpm: request.rpm ?? null,
      max_concurrent: request.max_concurrent ?? null,
      created_at: now,
      expires_at: request.expires_in_ms === undefined ? null : now + request.expires_in_ms,
      revoked_at: null,
    };
    await this.save([...this.keys, key]);
    return { ...this.info(key), secret };
  }

  /** Revokes a key (kept in the list, refused from now on). Undefined when there is no such key. */
  async revoke(id: string): Promise<ApiKeyInfo | undefined> {
    const key = this.keys.find((k) => k.id === id);
    if (!key) return undefined;
    if (key.revoked_at === null) {
      const revoked = { ...key, revoked_at: this.now() };
      await this.save(this.keys.map((k) => (k.id === id ? revoked : k)));
      return this.info(revoked);
    }
    return this.info(key);
  }

  /** A key by its secret's SHA-256 in hex (the auth check hashes each caller's token once). */
  lookupByHash(hash: string): KeyLookup {
    const key = this.byHash.get(hash);
    if (!key) return { ok: false, reason: 'unknown' };
    if (key.revoked_at !== null) return { ok: false, reason: 'revoked' };
    if (key.expires_at !== null && key.expires_at <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, key };
  }

  /** Rate and concurrency check for one request; `release` when it is done. */
  admit(key: StoredKey): Admission {
    const now = this.now();
    if (key.rpm !== null) {
      const window = (this.recent.get(key.id) ?? []).filter((at) => now - at < MINUTE_MS);
      this.recent.set(key.id, window);
      if (window.length >= key.rpm) {
        this.countRateLimited(key.id);
        return { ok: false, limit: 'rpm', retryAfterMs: MINUTE_MS - (now - (window[0] ?? now)) };
      }
      window.push(now);
    }
    const running = this.inFlight.get(key.id) ?? 0;
    if (key.max_concurrent !== null && running >= key.max_concurrent) {
      this.countRateLimited(key.id);
      return { ok: false, limit: 'concurrency', retryAfterMs: 1_000 };
    }
    this.inFlight.set(key.id, running + 1);
    this.inFlightMetric?.inc({ key: key.id });
    const usage = this.usageOf(key.id);
    usage.requests += 1;
    usage.last_used_at = now;
    this.requestsMetric?.inc({ key: key.id, name: key.name });
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.inFlight.set(key.id, Math.max(0, (this.inFlight.get(key.id) ?? 1) - 1));
        this.inFlightMetric?.dec({ key: key.id });
      },
    };
  }

  recordTokens(id: string, tokensIn: number, tokensOut: number): void {
    const usage = this.usageOf(id);
    usage.tokens_in += tokensIn;
    usage.tokens_out += tokensOut;
    this.tokensMetric?.inc({ key: id, direction: 'in' }, tokensIn);
    this.tokensMetric?.inc({ key: id, direction: 'out' }, tokensOut);
  }

  private countRateLimited(id: string): void {
    this.usageOf(id).rate_limited += 1;
  }

  private usageOf(id: string): ApiKeyUsage {
    let usage = this.usage.get(id);
    if (!usage) {
      usage = { requests: 0, tokens_in: 0, tokens_out: 0, rate_limited: 0, last_used_at: null };
      this.usage.set(id, usage);
    }
    return usage;
  }

  private info(key: StoredKey): ApiKeyInfo {
    return {
      id: key.id,
      fingerprint: `token:${key.id}`,
      name: key.name,
      scope: key.scope,
      models: key.models,
      rpm: key.rpm,
      max_concurrent: key.max_concurrent,
      created_at: key.created_at,
      expires_at: key.expires_at,
      revoked_at: key.revoked_at,
      usage: { ...this.usageOf(key.id) },
    };
  }

  private async save(keys: StoredKey[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const file: StoredFile = { version: 1, keys };
    await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
    this.keys = keys;
    this.byHash.clear();
    for (const key of keys) this.byHash.set(key.sha256, key);
  }
}
