import type { PolicyTransition } from '../../../src-shared/policy/RestartTracker.js';
import type { PoolHealth, PoolInfo, PoolKeyStorage, PoolModelInfo, PoolRecord, PoolTestResult } from '../../../src-shared/control/poolSchemas.js';
import { tokenFingerprint } from '../../auth/tokenFingerprint.js';
import { ConcurrencyGate } from './ConcurrencyGate.js';
import { PoolBreaker } from './PoolBreaker.js';
import { PoolHttp, readBody } from './PoolHttp.js';
import type { StoredPoolKey } from './PoolKeyStore.js';

/** Waiting requests per pool when the record does not say, as a multiple of its concurrency. */
const QUEUE_FACTOR = 4;
/** A model list larger than this is not an engine's model list. */
const MAX_MODELS_BODY = 4 * 1024 * 1024;

export interface PoolEvents {
  onBreaker(pool: string, transition: PolicyTransition): void;
  onHealth(pool: string, from: PoolHealth, to: PoolHealth, error: string | null): void;
}

/** `alias=upstream` or `name` → the exposed id and the engine's id. */
export function parseModelSpec(spec: string): PoolModelInfo {
  const [id, upstream] = spec.split('=', 2) as [string, string | undefined];
  return { id, upstream: upstream ?? id };
}

/** What a pool whose key is gone says, in its list entry, its log line and its refusals. */
export const KEY_LOST =
  'its API key is gone (kept for one session only where the OS could not seal it, a keychain that changed, or a deleted key file): add the pool again with its key (rbee pools add NAME --base-url URL --api-key-file FILE --replace)';

/**
 * One external engine: its HTTP client, breaker, concurrency gate (its waiting room is the queen's
 * DeadlineQueue), and what its last health check
 * (`GET {base}/models`) found. The key lives only here and in its key store (PoolKeyStore).
 */
export class Pool {
  readonly http: PoolHttp;
  readonly breaker: PoolBreaker;
  readonly gate: ConcurrencyGate;
  private discovered: string[] = [];
  private health: PoolHealth = 'unknown';
  private latencyMs: number | null = null;
  private lastCheckAt: number | null = null;
  private lastError: string | null = null;
  private checking: Promise<PoolTestResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly apiKey: string | undefined;
  private readonly keyStorage: PoolKeyStorage | null;
  /** The fingerprint a lost key had (remembered in pools.json), to say which key to add again. */
  private readonly lostKeyFingerprint: string | null;

  constructor(
    readonly record: PoolRecord,
    key: StoredPoolKey | undefined,
    private readonly events: PoolEvents,
  ) {
    const apiKey = key?.key;
    this.apiKey = apiKey;
    this.keyStorage = key?.storage ?? null;
    this.lostKeyFingerprint = key?.storage === 'lost' ? (key.fingerprint ?? null) : null;
    this.http = new PoolHttp(
      { baseUrl: new URL(record.base_url), apiKey, connectTimeoutMs: record.connect_timeout_ms, firstByteTimeoutMs: record.first_byte_timeout_ms },
      { maxSockets: record.max_concurrent, caFile: record.ca_file },
    );
    this.breaker = new PoolBreaker(record, (t) => events.onBreaker(record.name, t));
    this.gate = new ConcurrencyGate(record.max_concurrent, record.max_queued ?? record.max_concurrent * QUEUE_FACTOR, `pool ${record.name}`);
  }

  get name(): string {
    return this.record.name;
  }

  /** The key's `token:<fp6>`; for a lost key, the one it had (when known). */
  get keyFingerprint(): string | null {
    return this.apiKey ? tokenFingerprint(this.apiKey) : this.lostKeyFingerprint;
  }

  /**
   * The pool was added with a key that is gone: nothing is sent to the engine (it would refuse, and
   * its refusals would open the breaker against an engine that is fine) until the pool is added again.
   */
  get keyLost(): boolean {
    return this.keyStorage === 'lost';
  }

  /** The key, only for redaction lists (audit, logs); never for display. */
  get secret(): string | undefined {
    return this.apiKey;
  }

  /** The exposed models: the filter/aliases when given (an unlisted alias still routes), else what the engine lists. */
  models(): PoolModelInfo[] {
    if (this.record.models && this.record.models.length > 0) return this.record.models.map(parseModelSpec);
    return this.discovered.map((id) => ({ id, upstream: id }));
  }

  /** The engine's id for an exposed id, or undefined when this pool does not serve it. */
  upstreamModel(id: string): string | undefined {
    return this.models().find((m) => m.id === id)?.upstream;
  }

  /** Health checks every `health_period_ms`, the first at once. */
  startHealthChecks(): void {
    const tick = (): void => {
      void this.check().finally(() => {
        if (this.timer !== undefined) {
          this.timer = setTimeout(tick, this.record.health_period_ms);
          this.timer.unref();
        }
      });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  /**
   * One health check now (coalesced with a running one). While the breaker is not closed the check
   * runs only as its half-open trial; an open breaker is not probed before its cooldown ends.
   */
  check(): Promise<PoolTestResult> {
    this.checking ??= this.runCheck().finally(() => (this.checking = undefined));
    return this.checking;
  }

  info(): PoolInfo {
    const { name, base_url, models, ca_file, fallback, ...tuning } = this.record;
    return {
      name,
      base_url,
      key_fingerprint: this.keyFingerprint,
      key_storage: this.keyStorage,
      health: this.health,
      breaker: this.breaker.info(),
      models: this.models(),
      in_flight: this.gate.inFlight,
      queued: this.gate.queued,
      latency_ms: this.latencyMs,
      last_check_at: this.lastCheckAt === null ? null : new Date(this.lastCheckAt).toISOString(),
      last_error: this.lastError,
      tuning,
      ca_file: ca_file ?? null,
      models_filter: models ?? null,
      fallback: fallback === true,
    };
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.gate.close();
    this.http.dispose();
  }

  private async runCheck(): Promise<PoolTestResult> {
    if (this.keyLost) {
      this.setHealth('unreachable', KEY_LOST);
      this.lastCheckAt = Date.now();
      return { ok: false, latency_ms: 0, models: this.discovered, error: KEY_LOST };
    }
    const admission = this.breaker.admit();
    if (!admission.ok) {
      return { ok: false, latency_ms: 0, models: this.discovered, error: `not probed: ${admission.reason}` };
    }
    const started = performance.now();
    try {
      const res = await this.http.call({ method: 'GET', path: '/models' });
      const body = await readBody(res, MAX_MODELS_BODY);
      if (res.statusCode !== 200) throw new Error(`GET /models answered ${res.statusCode}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new Error('GET /models answered something that is not JSON');
      }
      const data = (parsed as { data?: unknown }).data;
      if (!Array.isArray(data)) throw new Error('GET /models answered JSON without a data list');
      this.discovered = data.flatMap((m: unknown) => (typeof (m as { id?: unknown })?.id === 'string' ? [(m as { id: string }).id] : []));
      const latency = performance.now() - started;
      this.breaker.recordSuccess();
      this.setHealth('online', null);
      this.latencyMs = Math.round(latency * 10) / 10;
      return { ok: true, latency_ms: this.latencyMs, models: this.discovered, error: null };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.breaker.recordFailure();
      this.setHealth('unreachable', message);
      return { ok: false, latency_ms: Math.round((performance.now() - started) * 10) / 10, models: this.discovered, error: message };
    } finally {
      this.lastCheckAt = Date.now();
    }
  }

  /** Requests report too: a failed request marks the pool unreachable before the next check. */
  setHealth(health: PoolHealth, error: string | null): void {
    this.lastError = error;
    if (health === this.health) return;
    const from = this.health;
    this.health = health;
    this.events.onHealth(this.name, from, health, error);
  }
}
