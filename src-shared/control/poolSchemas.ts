import { z } from 'zod';
import type { BreakerInfo } from '../cluster/WorkerInfo.js';

/**
 * Pools: external OpenAI-compatible engines behind the queen (vLLM, KServe/llm-d, Ray Serve,
 * llama-server, Ollama, another rbee queen). See docs/pools.md.
 */

/** A pool's name is the first part of its model ids (`pool/model`): no slash, short, URL-safe. */
export const PoolNameSchema = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'a pool name is letters, digits, _ and - (it prefixes model ids as NAME/model)');

/**
 * One exposed model: `id` is what clients name after `pool/`, `upstream` what the engine calls it.
 * In `--models` an entry `alias=upstream` exposes `upstream` as `alias`; a bare entry exposes itself.
 */
export const PoolModelSpecSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^=\s]+(=[^=\s]+)?$/, 'a model is NAME or ALIAS=UPSTREAM_NAME (no spaces)');

/** Timeouts, limits and breaker numbers of one pool, each with its default. */
export const PoolTuningSchema = z
  .object({
    /** TCP (and TLS) connect. Defaults to 5 s. */
    connect_timeout_ms: z.number().int().min(10).max(120_000).default(5_000),
    /** Request sent → response headers (a stream: its status line). Defaults to 60 s. */
    first_byte_timeout_ms: z.number().int().min(10).max(600_000).default(60_000),
    /** Requests in flight at once; more wait (bounded, within their deadline). Defaults to 16. */
    max_concurrent: z.number().int().min(1).max(4096).default(16),
    /**
     * Requests allowed to wait for a place (in the queen's queue, earliest deadline first); one more is
     * refused at once with 503 QUEUE_FULL. Defaults to 4 × max_concurrent; 0 means never wait.
     */
    max_queued: z.number().int().min(0).max(65_536).optional(),
    /** `GET {base}/models` every this long. Defaults to 10 s. */
    health_period_ms: z.number().int().min(100).max(3_600_000).default(10_000),
    /** Failures within `breaker_window_ms` that open the breaker. Defaults to 3. */
    breaker_failures: z.number().int().min(1).max(1_000).default(3),
    /** Defaults to 60 s. */
    breaker_window_ms: z.number().int().min(100).max(86_400_000).default(60_000),
    /** Open → half-open after this long. Defaults to 30 s. */
    breaker_cooldown_ms: z.number().int().min(100).max(86_400_000).default(30_000),
    /** The largest non-streamed body (or single stream event) accepted from the engine. Defaults to 16 MiB. */
    max_body_bytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(16 * 1024 * 1024),
  })
  .strict();

export type PoolTuning = z.output<typeof PoolTuningSchema>;

/** What is persisted (`<data>/pools.json`); the API key is kept apart (see PoolKeyStorage), never in this record. */
export const PoolRecordSchema = PoolTuningSchema.extend({
  name: PoolNameSchema,
  base_url: z
    .string()
    .max(2048)
    .url()
    .regex(/^https?:\/\//, 'base_url must be http:// or https://'),
  models: z.array(PoolModelSpecSchema).max(1024).optional(),
  /** PEM CA bundle on the queen's machine for https pools; verification is always on. */
  ca_file: z.string().min(1).max(4096).optional(),
  /**
   * A fallback pool also serves bare model names the hives serve, after them: when no hive can answer
   * before its first token (no worker, breaker open, hive offline), the request goes on to this pool.
   * Fallback pools are tried in the order they were added. Defaults to false.
   */
  fallback: z.boolean().optional(),
}).strict();

export type PoolRecord = z.output<typeof PoolRecordSchema>;

/** `POST /v1/control/pools`: a record plus the key (sent once, kept by the key store, shown only as `token:<fp6>`). */
export const AddPoolSchema = PoolRecordSchema.extend({
  api_key: z.string().min(1).max(8192).optional(),
  /** Replace a pool of the same name instead of answering 409. */
  replace: z.boolean().optional(),
}).strict();

export type AddPoolRequest = z.input<typeof AddPoolSchema>;

export type PoolHealth = 'unknown' | 'online' | 'unreachable';

/**
 * Where a pool's API key is kept:
 * - `file`: headless, `<data>/pool-keys/NAME.key` (0600);
 * - `sealed`: the desktop app, sealed with safeStorage (OS keychain, DPAPI, libsecret);
 * - `session`: the desktop app on a system that cannot seal secrets: in memory only, gone at quit;
 * - `lost`: the pool was added with a key that is gone: the app had sealed one the OS can no longer
 *   open (keychain reset, another user), a session-only key after a restart, a deleted key file. The
 *   queen sends nothing to the engine (it refuses with 503) until the pool is added again with its key.
 */
export type PoolKeyStorage = 'file' | 'sealed' | 'session' | 'lost';

export interface PoolModelInfo {
  /** The client-facing id: `pool/<id>`. */
  id: string;
  upstream: string;
}

/** A pool as the control API, the CLI and the dashboard see it. Never carries the key itself. */
export interface PoolInfo {
  name: string;
  base_url: string;
  /** `token:<fp6>` of the API key (for a `lost` key, the one it had, when known), or null when the engine needs none. */
  key_fingerprint: string | null;
  /** Where the key is kept (null: the pool has no key). */
  key_storage: PoolKeyStorage | null;
  health: PoolHealth;
  breaker: BreakerInfo;
  /** The models clients can name (`pool/id`), after filtering and aliases. */
  models: PoolModelInfo[];
  in_flight: number;
  queued: number;
  /** Duration of the last successful health check. */
  latency_ms: number | null;
  last_check_at: string | null;
  last_error: string | null;
  tuning: PoolTuning;
  ca_file: string | null;
  models_filter: string[] | null;
  /** Serves bare names the hives serve, after them (see PoolRecordSchema.fallback). */
  fallback: boolean;
}

/** `POST /v1/control/pools/{name}/test`: one health check, now. */
export interface PoolTestResult {
  ok: boolean;
  latency_ms: number;
  models: string[];
  error: string | null;
}
