import { ApiError, isApiErrorBody, type ErrorCode } from '../../src-shared/api/ApiError.js';
import type { AuditPage, AuditQuery, AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';
import { parseClusterEvent, type ClusterEvent, type ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { HiveInfo, ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import { ChatCompletionChunkSchema } from '../../src-shared/openai/chatCompletionChunk.js';
import type {
  AddHiveRequest,
  AddHiveResult,
  ChatRunRequest,
  ConnectionState,
  ControlApi,
  CreateWorkerSpecRequest,
  DownloadModelRequest,
  UploadModelRequest,
  UploadModelStarted,
  ReplaceWorkerSpecRequest,
  Settings,
  SettingsPatch,
  SpawnWorkerRequest,
  WorkerEntry,
} from '../../src-shared/control/ControlApi.js';
import { ControlRoutes } from '../../src-shared/control/controlRoutes.js';
import type { PoolInfo, PoolTestResult } from '../../src-shared/control/poolSchemas.js';
import type { CancelSignal } from '../../src-shared/util/CancelSignal.js';
import { InferenceSseParser, type InferenceEvent, type InferenceRequest, type StopReason } from '../../src-shared/worker/inferenceWire.js';
import { WorkerLogLineSchema, WorkerLogsPageSchema, type WorkerLogsPage, type WorkerLogsStreamEvent } from '../../src-shared/control/workerLogs.js';
import { reconnectDelayMs } from '../lib/backoff.js';
import { SseParser } from '../../src-shared/util/SseParser.js';
import type { ApiKeyInfo, CreateApiKeyRequest, CreatedApiKey } from '../../src-shared/control/apiKeys.js';

export interface HttpControlApiOptions {
  /** Origin (and optional prefix) of the queen, e.g. `http://127.0.0.1:7833`. Defaults to ''. */
  baseUrl?: string;
  /** Read on every call so a new login takes effect at once. */
  getToken: () => string | null;
  /** Called on any 401 (token refused or gone after a queen restart). */
  onUnauthorized?: (error: ApiError) => void;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Defaults to Math.random (reconnect jitter). */
  random?: () => number;
  /** A silent event stream is restarted after this long. Defaults to 60 000 ms. */
  idleTimeoutMs?: number;
  /** Timer functions (injected in tests). */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  /** After cancel, how long to wait for the queen's `end{cancelled}` before dropping the connection. Defaults to 1500 ms. */
  cancelGraceMs?: number;
}

/** Turn a non-2xx response into an ApiError, keeping the queen's `{"error":{code,message}}`. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = null;
  const text = await response.text().catch(() => '');
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (isApiErrorBody(body)) return new ApiError(response.status, body.error.code, body.error.message, body.error.details);
  const code: ErrorCode = response.status === 401 ? 'INVALID_API_KEY' : response.status === 404 ? 'NOT_FOUND' : 'UPSTREAM_ERROR';
  return new ApiError(response.status, code, text.trim() || `HTTP ${response.status} ${response.statusText}`.trim());
}

function networkError(error: unknown): ApiError {
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(0, 'HIVE_UNREACHABLE', `Cannot reach the queen: ${message}`);
}

/** The queen wraps lists in an object (`{"models":[…]}`, `{"hives":[…]}`); a bare array is accepted too. */
export function unwrapList<T, K extends string>(body: T[] | Record<K, T[]>, key: K): T[] {
  if (Array.isArray(body)) return body;
  const list = (body as Record<K, T[]> | null)?.[key];
  return Array.isArray(list) ? list : [];
}

/** Query string for the audit route: repeated filters are comma-joined, absent ones omitted. */
export function auditQueryString(query: AuditQuery): string {
  const params = new URLSearchParams();
  if (query.from) params.set('from', query.from);
  if (query.to) params.set('to', query.to);
  if (query.event_types && query.event_types.length > 0) params.set('event_types', query.event_types.join(','));
  if (query.service_id) params.set('service_id', query.service_id);
  if (query.text) params.set('text', query.text);
  if (query.cursor) params.set('cursor', query.cursor);
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * The ControlApi over the queen's HTTP control API (web mode). Every call sends
 * `Authorization: Bearer <token>`; the event stream is read with fetch + ReadableStream because
 * EventSource cannot send headers.
 */
export function createHttpControlApi(options: HttpControlApiOptions): ControlApi {
  const base = (options.baseUrl ?? '').replace(/\/$/, '');
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const random = options.random ?? Math.random;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const setTimer = options.setTimeout ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
  const clearTimer = options.clearTimeout ?? ((h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>));
  const cancelGraceMs = options.cancelGraceMs ?? 1500;

  function headers(extra?: Record<string, string>): Record<string, string> {
    const token = options.getToken();
    return { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra };
  }

  async function fail(response: Response): Promise<never> {
    const error = await errorFromResponse(response);
    if (response.status === 401) options.onUnauthorized?.(error);
    throw error;
  }

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await doFetch(base + path, {
        method,
        headers: headers(body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' }),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw networkError(error);
    }
    if (!response.ok) return fail(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  function subscribe(onEvent: (event: ClusterEvent) => void, onConnection?: (state: ConnectionState) => void): () => void {
    let stopped = false;
    let attempt = 0;
    let controller: AbortController | null = null;
    let retryTimer: unknown = null;
    let idleTimer: unknown = null;
    let lastState: ConnectionState | null = null;

    const report = (state: ConnectionState): void => {
      if (state === lastState) return;
      lastState = state;
      onConnection?.(state);
    };

    const armIdle = (): void => {
      if (idleTimer !== null) clearTimer(idleTimer);
      idleTimer = setTimer(() => controller?.abort(), idleTimeoutMs);
    };

    const scheduleRetry = (): void => {
      if (stopped) return;
      report('reconnecting');
      const delay = reconnectDelayMs(attempt, random);
      attempt += 1;
      retryTimer = setTimer(() => {
        retryTimer = null;
        void connect();
      }, delay);
    };

    const connect = async (): Promise<void> => {
      if (stopped) return;
      controller = new AbortController();
      let response: Response;
      try {
        response = await doFetch(base + ControlRoutes.events, {
          headers: headers({ Accept: 'text/event-stream' }),
          signal: controller.signal,
          cache: 'no-store',
        });
      } catch {
        scheduleRetry();
        return;
      }
      if (response.status === 401) {
        const error = await errorFromResponse(response);
        report('closed');
        stopped = true;
        options.onUnauthorized?.(error);
        return;
      }
      if (!response.ok || !response.body) {
        scheduleRetry();
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      armIdle();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          armIdle();
          for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
            if (frame.event !== 'cluster' && frame.event !== 'message') continue;
            if (!frame.data) continue;
            const event = parseClusterEvent(frame.data);
            if (!event) continue;
            if (event.type === 'snapshot') {
              // The stream is healthy once its snapshot arrived: reset the backoff.
              attempt = 0;
              report('open');
            }
            onEvent(event);
          }
        }
      } catch {
        // Network drop or idle abort: fall through to a reconnect.
      } finally {
        if (idleTimer !== null) clearTimer(idleTimer);
        idleTimer = null;
      }
      scheduleRetry();
    };

    report('connecting');
    void connect();
    return () => {
      stopped = true;
      if (retryTimer !== null) clearTimer(retryTimer);
      if (idleTimer !== null) clearTimer(idleTimer);
      controller?.abort();
      report('closed');
    };
  }

  /**
   * Follows `…/logs?follow=1` (SSE, `event: log` per line). Each (re)connection starts with `reset`
   * and the tail; drops reconnect with the event stream's backoff. A 401 ends it (and logs out), as
   * does a 404 (the worker is gone).
   */
  function watchWorkerLogs(hiveId: string, workerId: string, tail: number, onEvent: (event: WorkerLogsStreamEvent) => void): () => void {
    let stopped = false;
    let attempt = 0;
    let controller: AbortController | null = null;
    let retryTimer: unknown = null;
    let idleTimer: unknown = null;
    const url = `${base}${ControlRoutes.workerLogs(hiveId, workerId)}?tail=${tail}&follow=1`;

    const armIdle = (): void => {
      if (idleTimer !== null) clearTimer(idleTimer);
      idleTimer = setTimer(() => controller?.abort(), idleTimeoutMs);
    };
    const end = (message: string): void => {
      stopped = true;
      onEvent({ type: 'state', state: 'closed', message });
    };
    const scheduleRetry = (): void => {
      if (stopped) return;
      onEvent({ type: 'state', state: 'reconnecting' });
      const delay = reconnectDelayMs(attempt, random);
      attempt += 1;
      retryTimer = setTimer(() => {
        retryTimer = null;
        void connect();
      }, delay);
    };
    const connect = async (): Promise<void> => {
      if (stopped) return;
      controller = new AbortController();
      let response: Response;
      try {
        response = await doFetch(url, { headers: headers({ Accept: 'text/event-stream' }), signal: controller.signal, cache: 'no-store' });
      } catch {
        scheduleRetry();
        return;
      }
      if (stopped) return;
      if (response.status === 401 || response.status === 404 || response.status === 400) {
        const error = await errorFromResponse(response);
        if (response.status === 401) options.onUnauthorized?.(error);
        end(error.message);
        return;
      }
      if (!response.ok || !response.body) {
        scheduleRetry();
        return;
      }
      attempt = 0;
      onEvent({ type: 'reset' });
      onEvent({ type: 'state', state: 'open' });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      armIdle();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          armIdle();
          for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
            if (frame.event !== 'log' || !frame.data) continue;
            let json: unknown;
            try {
              json = JSON.parse(frame.data);
            } catch {
              continue;
            }
            const line = WorkerLogLineSchema.safeParse(json);
            if (line.success) onEvent({ type: 'line', line: line.data });
          }
        }
      } catch {
        // Network drop or idle abort: reconnect below.
      } finally {
        if (idleTimer !== null) clearTimer(idleTimer);
        idleTimer = null;
      }
      scheduleRetry();
    };

    void connect();
    return () => {
      if (stopped) return;
      stopped = true;
      if (retryTimer !== null) clearTimer(retryTimer);
      if (idleTimer !== null) clearTimer(idleTimer);
      controller?.abort();
    };
  }

  /**
   * One chat turn through `/v1/chat/completions` (stream, usage included), mapped to the worker's
   * events: `started` (with `x-rbee-worker`), `token` per content delta, `end` at `[DONE]` after a
   * finish_reason, `error` for the error frame of a cut stream. Cancel drops the connection, which the
   * queen treats as a cancel. OpenAI's `stop` covers both end-of-sequence and a stop sequence: it is
   * reported as `eos`. `decode_ms` comes from the usage chunk's `timings` (0 when absent: then
   * tokens/s is the client's estimate).
   */
  async function chat(request: ChatRunRequest, onEvent: (event: InferenceEvent) => void, signal?: CancelSignal): Promise<void> {
    if (signal?.aborted) return;
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort);
    const body = {
      model: request.model,
      messages: request.messages,
      stream: true,
      stream_options: { include_usage: true },
      ...(request.max_tokens !== undefined ? { max_tokens: request.max_tokens } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      ...(request.stop && request.stop.length > 0 ? { stop: request.stop } : {}),
      ...(request.ignore_eos ? { ignore_eos: true } : {}),
    };
    try {
      let response: Response;
      try {
        response = await doFetch(base + ControlRoutes.chatCompletions, {
          method: 'POST',
          headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
          body: JSON.stringify(body),
          signal: controller.signal,
        });
      } catch (error) {
        if (controller.signal.aborted) return;
        throw networkError(error);
      }
      if (!response.ok) return await fail(response);
      if (!response.body) throw new ApiError(502, 'UPSTREAM_ERROR', 'The queen sent no stream');
      const worker = response.headers.get('x-rbee-worker');
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      let started = false;
      let index = 0;
      let finish: string | null = null;
      let completionTokens: number | null = null;
      let decodeMs = 0;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
            if (frame.data === '[DONE]') {
              if (finish !== null) {
                onEvent({ type: 'end', tokens_out: completionTokens ?? index, decode_ms: decodeMs, stop_reason: stopReasonOf(finish) });
              }
              return;
            }
            let json: unknown;
            try {
              json = JSON.parse(frame.data);
            } catch {
              continue;
            }
            const chunk = ChatCompletionChunkSchema.safeParse(json);
            if (!chunk.success) continue;
            const { error, choices, usage, id, timings } = chunk.data;
            if (timings) decodeMs = timings.predicted_ms;
            if (error) {
              onEvent({ type: 'error', code: (error.code ?? 'upstream_error').toUpperCase(), message: error.message });
              continue;
            }
            if (!started) {
              started = true;
              onEvent({ type: 'started', job_id: id ?? '', model: request.model, ...(worker ? { worker } : {}) });
            }
            const choice = choices?.[0];
            const text = choice?.delta?.content;
            if (text) onEvent({ type: 'token', t: text, i: index++ });
            if (choice?.finish_reason) finish = choice.finish_reason;
            if (usage) completionTokens = usage.completion_tokens;
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        throw networkError(error);
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async function getWorkerLogs(hiveId: string, workerId: string, tail: number): Promise<WorkerLogsPage> {
    const body = await call<unknown>('GET', `${ControlRoutes.workerLogs(hiveId, workerId)}?tail=${tail}`);
    const page = WorkerLogsPageSchema.safeParse(body);
    if (!page.success) throw new ApiError(502, 'UPSTREAM_ERROR', 'The queen sent malformed worker logs');
    return page.data;
  }

  async function infer(
    request: InferenceRequest & { model: string },
    onEvent: (event: InferenceEvent) => void,
    signal?: CancelSignal,
  ): Promise<void> {
    if (signal?.aborted) return;
    const controller = new AbortController();
    let jobId: string | null = null;
    let graceTimer: unknown = null;
    const onAbort = (): void => {
      // Ask the queen to cancel (it then ends the stream with stop_reason `cancelled`); drop the
      // connection if that answer does not come quickly (a closed connection cancels too).
      if (jobId) {
        doFetch(`${base}${ControlRoutes.inference}/${encodeURIComponent(jobId)}`, { method: 'DELETE', headers: headers() }).then(
          (r) => {
            if (!r.ok) controller.abort();
          },
          () => controller.abort(),
        );
        graceTimer = setTimer(() => controller.abort(), cancelGraceMs);
      } else {
        controller.abort();
      }
    };
    signal?.addEventListener('abort', onAbort);
    try {
      let response: Response;
      try {
        response = await doFetch(base + ControlRoutes.inference, {
          method: 'POST',
          headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
          body: JSON.stringify(request),
          signal: controller.signal,
        });
      } catch (error) {
        if (controller.signal.aborted) return;
        throw networkError(error);
      }
      if (!response.ok) return await fail(response);
      if (!response.body) throw new ApiError(502, 'UPSTREAM_ERROR', 'The queen sent no stream');
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new InferenceSseParser();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          for (const item of parser.push(decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n'))) {
            if (item === 'done') return;
            if (item.type === 'started') {
              jobId = item.job_id;
              if (signal?.aborted) onAbort();
            }
            onEvent(item);
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        throw networkError(error);
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (graceTimer !== null) clearTimer(graceTimer);
    }
  }

  return {
    getSnapshot: () => call<ClusterSnapshot>('GET', ControlRoutes.snapshot),
    subscribe,
    spawnWorker: async (request: SpawnWorkerRequest) => {
      const entry = await call<WorkerEntry>('POST', ControlRoutes.workers, request);
      if (!entry.worker) throw new ApiError(503, 'HIVE_UNREACHABLE', `Hive '${request.hive_id}' did not start the worker`);
      return entry.worker;
    },
    listWorkerSpecs: async () => (await call<{ workers: WorkerEntry[] }>('GET', ControlRoutes.workers)).workers,
    createWorkerSpec: (request: CreateWorkerSpecRequest) => call<WorkerEntry>('POST', ControlRoutes.workers, request),
    getWorkerSpec: (hiveId, specId) => call<WorkerEntry>('GET', ControlRoutes.worker(hiveId, specId)),
    replaceWorkerSpec: (hiveId, specId, request: ReplaceWorkerSpecRequest) => call<WorkerEntry>('PUT', ControlRoutes.worker(hiveId, specId), request),
    deleteWorkerSpec: (hiveId, specId) => call<void>('DELETE', ControlRoutes.worker(hiveId, specId)),
    stopWorker: (hiveId, workerId) => call<void>('POST', ControlRoutes.workerAction(hiveId, workerId, 'stop'), {}),
    startWorker: (hiveId, workerId) => call<void>('POST', ControlRoutes.workerAction(hiveId, workerId, 'start'), {}),
    restartWorker: (hiveId, workerId) => call<void>('POST', ControlRoutes.workerAction(hiveId, workerId, 'restart'), {}),
    resetBreaker: (hiveId, workerId) => call<void>('POST', ControlRoutes.workerAction(hiveId, workerId, 'reset-breaker'), {}),
    getWorkerLogs,
    watchWorkerLogs,
    listModels: async () => unwrapList(await call<ModelInfo[] | { models: ModelInfo[] }>('GET', ControlRoutes.models), 'models'),
    downloadModel: (request: DownloadModelRequest) => call<{ download_id: string; name?: string }>('POST', ControlRoutes.modelDownload, request),
    uploadModel: (request: UploadModelRequest) => call<UploadModelStarted>('POST', ControlRoutes.modelUpload, request),
    deleteModel: (hiveId, name) => call<void>('DELETE', ControlRoutes.hiveModel(hiveId, name)),
    listHives: async () => unwrapList(await call<HiveInfo[] | { hives: HiveInfo[] }>('GET', ControlRoutes.hives), 'hives'),
    addHive: (request: AddHiveRequest) => call<AddHiveResult>('POST', ControlRoutes.hives, request),
    removeHive: (hiveId, opts) => call<void>('DELETE', `${ControlRoutes.hive(hiveId)}?stop=${opts.stop ? 'true' : 'false'}`),
    listPools: async () => (await call<{ pools: PoolInfo[] }>('GET', ControlRoutes.pools)).pools,
    testPool: (name) => call<PoolTestResult>('POST', ControlRoutes.poolAction(name, 'test'), {}),
    resetPoolBreaker: async (name) => (await call<{ pool: PoolInfo }>('POST', ControlRoutes.poolAction(name, 'reset-breaker'), {})).pool,
    queryAudit: (query: AuditQuery) => call<AuditPage>('GET', ControlRoutes.audit + auditQueryString(query)),
    verifyAudit: () => call<AuditVerifyResult>('GET', ControlRoutes.auditVerify),
    getSettings: () => call<Settings>('GET', ControlRoutes.settings),
    updateSettings: (patch: SettingsPatch) => call<Settings>('PATCH', ControlRoutes.settings, patch),
    listKeys: async () => (await call<{ keys: ApiKeyInfo[] }>('GET', ControlRoutes.keys)).keys,
    createKey: (request: CreateApiKeyRequest) => call<CreatedApiKey>('POST', ControlRoutes.keys, request),
    revokeKey: (id: string) => call<ApiKeyInfo>('DELETE', ControlRoutes.key(id)),
    // The token this dashboard logged in with: the web dashboard holds it already.
    revealAdminToken: async () => {
      const token = options.getToken();
      if (!token) throw new ApiError(401, 'MISSING_API_KEY', 'Not logged in');
      return token;
    },
    infer,
    chat,
  };
}

function stopReasonOf(finish: string): StopReason {
  if (finish === 'length') return 'max_tokens';
  if (finish === 'tool_calls') return 'tool_calls';
  return 'eos';
}
