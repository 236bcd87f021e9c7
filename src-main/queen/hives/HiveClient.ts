import http from 'node:http';
import type { z } from 'zod';
import { ApiError, isApiErrorBody } from '../../../src-shared/api/ApiError.js';
import { parseClusterEvent, type ClusterEvent } from '../../../src-shared/cluster/ClusterEvent.js';
import { WorkerInfoSchema, type WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import type { AuditHead, AuditPage, AuditQuery } from '../../../src-shared/audit/AuditEvent.js';
import {
  AuditFileChunkSchema,
  AuditFilesAnswerSchema,
  AuditHeadsAnswerSchema,
  type AuditFileChunk,
  type AuditFilesAnswer,
  AuditPageAnswerSchema,
  AuditWitnessAnswerSchema,
  DownloadStartedSchema,
  HiveRoutes,
  WorkerCredentialsSchema,
  type DownloadBody,
  type HiveWorkerAction,
  type SpawnWorkerBody,
  type WorkerCredentials,
} from '../../../src-shared/hive/hiveApi.js';
import type { RestartPolicyPatch } from '../../../src-shared/policy/RestartPolicyConfig.js';
import { SseParser } from '../../../src-shared/util/SseParser.js';
import { failedOnStaleSocket } from '../../common/http/staleSocket.js';

/** Where a hive is and how to reach it: loopback directly, or an SSH tunnel given as an http.Agent. */
export interface HiveEndpoint {
  id: string;
  /** `http://127.0.0.1:<port>` as seen from the hive's own machine (tunnelled for remote hives). */
  baseUrl: string;
  token: string | undefined;
  /** For remote hives: sockets are SSH channels (`forwardOut`). Defaults to a keep-alive agent. */
  agent?: http.Agent;
  /**
   * The hive's Unix socket (remote hives listen on one: no TCP port). Requests connect there,
   * through `agent`, and keep `baseUrl`'s host as their Host header.
   */
  socketPath?: string;
}

export interface HiveRequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Defaults to 10 s: a hive answers control calls quickly or is in trouble. */
  timeoutMs?: number;
}

/**
 * A spawn includes the hive's admission check, whose first run loads the llama binding (which tests
 * its binary in a child process): seconds on a busy machine, more than a control call's usual 10 s.
 */
export const SPAWN_TIMEOUT_MS = 60_000;

const defaultAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });

/**
 * The queen's HTTP client for one hive. Errors come back as ApiError: the hive's own envelope when it
 * answered, `HIVE_UNREACHABLE` (502) when it did not.
 */
export class HiveClient {
  constructor(readonly endpoint: HiveEndpoint) {}

  get agent(): http.Agent {
    return this.endpoint.agent ?? defaultAgent;
  }

  /** Where a request for `url` connects: the hive's socket when it has one, else url's host and port. */
  private where(url: URL): { hostname: string; port?: string; socketPath?: string } {
    return this.endpoint.socketPath === undefined ? { hostname: url.hostname, port: url.port } : { hostname: url.hostname, socketPath: this.endpoint.socketPath };
  }

  /**
   * One call to the hive. A call that fails on a kept-alive socket the hive had just closed (its idle
   * timeout raced our reuse; see failedOnStaleSocket) is sent once more on a fresh socket: otherwise
   * that race would read as "hive unreachable" (found as a request that waited out its deadline after
   * its worker's credentials call failed this way).
   */
  request<T>(method: string, path: string, options: HiveRequestOptions = {}): Promise<T> {
    return this.send<T>(method, path, options, true);
  }

  private send<T>(method: string, path: string, options: HiveRequestOptions, retryStale: boolean): Promise<T> {
    const url = new URL(path, this.endpoint.baseUrl);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          ...this.where(url),
          path: `${url.pathname}${url.search}`,
          method,
          agent: this.agent,
          signal: options.signal,
          timeout: options.timeoutMs ?? 10_000,
          headers: {
            ...(this.endpoint.token ? { authorization: `Bearer ${this.endpoint.token}` } : {}),
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (error) => reject(this.unreachable(error)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            if (text.length > 0) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(parsed as T);
            if (isApiErrorBody(parsed)) {
              const headers: Record<string, string> = {};
              const retryAfter = res.headers['retry-after'];
              if (typeof retryAfter === 'string') headers['retry-after'] = retryAfter;
              return reject(new ApiError(status, parsed.error.code, parsed.error.message, parsed.error.details, headers));
            }
            reject(new ApiError(502, 'UPSTREAM_ERROR', `Hive ${this.endpoint.id} answered ${status}`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (retryStale && !options.signal?.aborted && failedOnStaleSocket(req, error)) return resolve(this.send<T>(method, path, options, false));
        reject(this.unreachable(error));
      });
      req.end(payload);
    });
  }

  /**
   * `request`, then the answer parsed with `schema`: what a hive (possibly remote) says enters the
   * queen's state only in the shape the contract gives it. A mismatch is a 502, not a cast.
   */
  async requestParsed<S extends z.ZodType>(schema: S, method: string, path: string, options: HiveRequestOptions = {}): Promise<z.output<S>> {
    const answer = await this.request<unknown>(method, path, options);
    const parsed = schema.safeParse(answer);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiError(502, 'UPSTREAM_ERROR', `Hive ${this.endpoint.id} answered ${method} ${path} with an unexpected shape (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`);
    }
    return parsed.data;
  }

  spawnWorker(body: SpawnWorkerBody): Promise<WorkerInfo> {
    return this.requestParsed(WorkerInfoSchema, 'POST', HiveRoutes.workers, { body, timeoutMs: SPAWN_TIMEOUT_MS });
  }

  /** Stops the worker and forgets its entry (the hive answers once it has stopped). */
  async removeWorker(workerId: string): Promise<void> {
    await this.request('DELETE', HiveRoutes.worker(workerId), { timeoutMs: SPAWN_TIMEOUT_MS });
  }

  async workerAction(workerId: string, action: HiveWorkerAction): Promise<void> {
    await this.request('POST', HiveRoutes.workerAction(workerId, action));
  }

  workerCredentials(workerId: string): Promise<WorkerCredentials> {
    return this.requestParsed(WorkerCredentialsSchema, 'GET', HiveRoutes.workerCredentials(workerId));
  }

  async deleteModel(name: string): Promise<void> {
    await this.request('DELETE', HiveRoutes.model(name));
  }

  downloadModel(body: DownloadBody): Promise<{ download_id: string; name?: string }> {
    return this.requestParsed(DownloadStartedSchema, 'POST', HiveRoutes.modelDownload, { body });
  }

  /** The hive's audit head and its workers' (empty when its audit is off). */
  async auditHeads(): Promise<AuditHead[]> {
    return (await this.requestParsed(AuditHeadsAnswerSchema, 'GET', HiveRoutes.auditHeads)).heads;
  }

  /** Pushes heads (the queen's) for the hive to record as `witness` records; the count it recorded. */
  async auditWitness(heads: readonly AuditHead[], source: string): Promise<number> {
    return (await this.requestParsed(AuditWitnessAnswerSchema, 'POST', HiveRoutes.auditWitness, { body: { source, heads } })).recorded;
  }

  /** One newest-first page of the hive's and its workers' audit records. */
  auditQuery(query: AuditQuery): Promise<AuditPage> {
    return this.requestParsed(AuditPageAnswerSchema, 'POST', HiveRoutes.auditQuery, { body: query });
  }

  /** The hive's audit chain files (its own and its workers'). */
  async auditFiles(): Promise<AuditFilesAnswer> {
    return this.requestParsed(AuditFilesAnswerSchema, 'GET', HiveRoutes.auditFiles);
  }

  /** One chunk (≤ 4 MiB) of an audit file from `offset`. */
  auditFileChunk(chain: string, name: string, offset: number): Promise<AuditFileChunk> {
    return this.requestParsed(AuditFileChunkSchema, 'GET', HiveRoutes.auditFile(chain, name, offset), { timeoutMs: 60_000 });
  }

  async updatePolicy(patch: RestartPolicyPatch): Promise<void> {
    await this.request('PATCH', HiveRoutes.policy, { body: patch });
  }

  private unreachable(error: Error): ApiError {
    if (error instanceof ApiError) return error;
    return new ApiError(502, 'HIVE_UNREACHABLE', `Hive ${this.endpoint.id} is unreachable: ${error.message}`);
  }

  /**
   * Follows the hive's `/v1/events` SSE stream (snapshot first) until it ends or `signal` aborts.
   * Resolves when the stream closes; rejects when it cannot be opened.
   */
  followEvents(onEvent: (event: ClusterEvent) => void, signal: AbortSignal, onHeartbeat?: () => void): Promise<void> {
    const url = new URL(HiveRoutes.events, this.endpoint.baseUrl);
    return new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          ...this.where(url),
          path: url.pathname,
          method: 'GET',
          agent: this.agent,
          signal,
          headers: { accept: 'text/event-stream', ...(this.endpoint.token ? { authorization: `Bearer ${this.endpoint.token}` } : {}) },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new ApiError(502, 'HIVE_UNREACHABLE', `Hive ${this.endpoint.id} refused its event stream (${res.statusCode})`));
            return;
          }
          res.setEncoding('utf8');
          // `: ping` comments: the hive is alive even when nothing changes.
          const parser = new SseParser(() => onHeartbeat?.());
          res.on('data', (chunk: string) => {
            for (const message of parser.push(chunk)) {
              // A malformed event from a hive must not take the queen down; the next snapshot heals.
              const event = parseClusterEvent(message.data);
              if (event) onEvent(event);
            }
          });
          res.on('end', () => resolve());
          res.on('error', () => resolve());
          res.on('close', () => resolve());
        },
      );
      req.on('error', (error) => (signal.aborted ? resolve() : reject(this.unreachable(error))));
      req.end();
    });
  }

  /**
   * Opens a streaming GET (an SSE route such as a worker's followed logs) and hands back the response
   * once its status is 200, for the caller to relay; the hive's error envelope becomes an ApiError.
   */
  openStream(path: string, signal: AbortSignal): Promise<http.IncomingMessage> {
    const url = new URL(path, this.endpoint.baseUrl);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          ...this.where(url),
          path: `${url.pathname}${url.search}`,
          method: 'GET',
          agent: this.agent,
          signal,
          headers: { accept: 'text/event-stream', ...(this.endpoint.token ? { authorization: `Bearer ${this.endpoint.token}` } : {}) },
        },
        (res) => {
          if (res.statusCode === 200) return resolve(res);
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            try {
              const body: unknown = JSON.parse(text);
              if (isApiErrorBody(body)) return reject(new ApiError(res.statusCode ?? 502, body.error.code, body.error.message));
            } catch {
              // not the envelope: reported below
            }
            reject(new ApiError(502, 'HIVE_UNREACHABLE', `Hive ${this.endpoint.id} answered ${res.statusCode} to ${url.pathname}`));
          });
        },
      );
      req.on('error', (error) => reject(this.unreachable(error)));
      req.end();
    });
  }
}
