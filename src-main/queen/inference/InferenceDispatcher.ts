import http from 'node:http';
import { ApiError, isApiErrorBody } from '../../../src-shared/api/ApiError.js';
import type { Deadline } from '../../../src-shared/deadline/Deadline.js';
import {
  parseInferenceBlock,
  tokenTextLiteral,
  type EndEvent,
  type InferenceEvent,
  type InferenceRequest,
  type StartedEvent,
} from '../../../src-shared/worker/inferenceWire.js';
import { SseParser } from '../../../src-shared/util/SseParser.js';
import type { EmbeddingsRequest, EmbeddingsResponse, TokenCountResponse } from '../../../src-shared/worker/embeddingsWire.js';
import { failedOnStaleSocket } from '../../common/http/staleSocket.js';
import { REQUEST_ID_HEADER } from '../../common/http/requestId.js';
import type { Logger } from '../../common/log/createLogger.js';
import type { HiveClient } from '../hives/HiveClient.js';
import { attemptKey } from '../scheduling/modelAvailability.js';
import { INITIAL_RELAY_STATE, relayStep, type RelayInput } from './relayState.js';
import type { Lease, Scheduler } from '../scheduling/Scheduler.js';

/** Where a dispatched stream goes: the route turns these into worker SSE or OpenAI chunks. */
export interface InferenceSink {
  /** Once, when the serving worker produced its first token (or ended without one). */
  started(event: StartedEvent, worker: { hive: string; id: string }): void;
  event(event: Exclude<InferenceEvent, StartedEvent>): void;
  /** After the events of one upstream chunk: write them to the client together. */
  flush?(): void;
  /**
   * Relay mode: the worker's own SSE text is handed over as is (no parse and re-encode per token).
   * `event` then only receives errors the queen itself reports; the end event comes in the result.
   */
  raw?(text: string): void;
  /**
   * Literal mode: a plain token arrives as its text's JSON string literal (the worker's encoding,
   * quotes included), not parsed; the route frames it as it is. Tokens of another shape (logprobs)
   * still come parsed through `event`.
   */
  tokenLiteral?(literal: string): void;
}

export interface DispatchContext {
  deadline: Deadline;
  requestId: string;
  /** Aborts when the client goes away: the worker request is dropped, which cancels the job. */
  signal: AbortSignal;
}

export interface DispatchResult {
  end: EndEvent | null;
  attempts: number;
  ttftMs: number | null;
}

interface WorkerCredentials {
  url: string;
  token: string | undefined;
  pid: number | null;
  /** The worker's Unix socket on its hive's machine (remote hives); else `url`'s host and port. */
  socketPath?: string | undefined;
}

/** Where a request to a worker connects: its socket (through the hive's agent) or url's host and port. */
function whereTo(target: URL, creds: WorkerCredentials): { hostname: string; port?: string; socketPath?: string } {
  return creds.socketPath === undefined ? { hostname: target.hostname, port: target.port } : { hostname: target.hostname, socketPath: creds.socketPath };
}

/** Failures before the first token: the request can go to another worker. */
class RetryableError extends Error {
  /**
   * `notTheWorker`: the worker did not fail, so it is tried again shortly instead of written off:
   * - it was only momentarily full (503 ALL_SLOTS_BUSY: a slot freed by a cancel is returned a moment
   *   after the queen released its lease);
   * - the call never reached it: a kept-alive socket it had just closed (failedOnStaleSocket), or its
   *   hive's credentials call failed.
   * Writing such a worker off would leave a request for a one-worker model waiting until its
   * deadline for a restart that never comes.
   */
  constructor(
    message: string,
    readonly notTheWorker = false,
  ) {
    super(message);
  }
}

/** Attempts per request (first try + retries), all within the deadline. */
const MAX_ATTEMPTS = 6;
/** Pause before trying a worker again that did not fail (see RetryableError), times the attempt number. */
const RETRY_SAME_WORKER_MS = 20;

/**
 * Sends one inference to a worker chosen by the scheduler and relays its tokens. A failure before
 * the first token (refused connection, 503, stream cut) is retried on another worker while the
 * deadline allows; after the first token the stream fails honestly with an `error` event.
 */
export class InferenceDispatcher {
  private readonly credentials = new Map<string, WorkerCredentials>();
  /** Running jobs by the worker's job id, so `DELETE /v1/inference/{job_id}` on the queen reaches it. */
  private readonly running = new Map<string, { creds: WorkerCredentials; agent: http.Agent }>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly hiveClient: (hiveId: string) => HiveClient | undefined,
    private readonly logger: Logger,
  ) {}

  async dispatch(request: InferenceRequest & { model: string }, context: DispatchContext, sink: InferenceSink): Promise<DispatchResult> {
    const exclude = new Set<string>();
    const startedAt = performance.now();
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (context.deadline.expired()) break;
      const lease = await this.scheduler.acquire(request.model, context.deadline, { exclude, signal: context.signal });
      try {
        const end = await this.streamFrom(lease, request, context, sink, startedAt);
        return { end: end.end, attempts: attempt, ttftMs: end.ttftMs };
      } catch (error) {
        if (!(error instanceof RetryableError)) throw error;
        lastError = error;
        lease.release();
        if (error.notTheWorker) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_SAME_WORKER_MS * attempt, context.deadline.remainingMs())));
          continue;
        }
        exclude.add(attemptKey(lease.worker));
        this.credentials.delete(lease.key);
        this.logger.warn({ request_id: context.requestId, worker: lease.key, attempt, reason: error.message }, 'worker failed before the first token; retrying');
      } finally {
        lease.release();
      }
    }
    if (context.deadline.expired()) throw new ApiError(504, 'DEADLINE_EXCEEDED', 'The deadline passed before any worker answered');
    throw new ApiError(502, 'UPSTREAM_ERROR', `No worker could serve the request: ${lastError?.message ?? 'unknown error'}`);
  }

  /** Embeddings: one JSON call on a worker of the model (see callWorker). */
  embed(request: EmbeddingsRequest & { model: string }, context: DispatchContext): Promise<{ response: EmbeddingsResponse; worker: string }> {
    return this.callWorker<EmbeddingsResponse>(request.model, '/v1/embeddings', request, context);
  }

  /** Counts the prompt tokens of a request as its worker would render it (chat template, tools). */
  countTokens(request: InferenceRequest & { model: string }, context: DispatchContext): Promise<{ response: TokenCountResponse; worker: string }> {
    return this.callWorker<TokenCountResponse>(request.model, '/v1/tokenize', request, context);
  }

  /**
   * A JSON request to a worker of `model`, scheduled like an inference (a slot lease, the deadline,
   * retries on another worker while nothing was answered).
   */
  private async callWorker<T>(model: string, path: string, request: unknown, context: DispatchContext): Promise<{ response: T; worker: string }> {
    const exclude = new Set<string>();
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (context.deadline.expired()) break;
      const lease = await this.scheduler.acquire(model, context.deadline, { exclude, signal: context.signal });
      try {
        const { creds, agent } = await this.credentialsFor(lease);
        const response = await this.postJson<T>(creds, agent, path, request, context);
        return { response, worker: `${lease.worker.hive}/${lease.worker.id}` };
      } catch (error) {
        if (!(error instanceof RetryableError)) throw error;
        lastError = error;
        if (!error.notTheWorker) {
          exclude.add(lease.key);
          this.credentials.delete(lease.key);
        }
      } finally {
        lease.release();
      }
    }
    if (context.deadline.expired()) throw new ApiError(504, 'DEADLINE_EXCEEDED', 'The deadline passed before any worker answered');
    throw new ApiError(502, 'UPSTREAM_ERROR', `No worker could serve the request: ${lastError?.message ?? 'unknown error'}`);
  }

  private postJson<T>(creds: WorkerCredentials, agent: http.Agent, path: string, payload: unknown, context: DispatchContext): Promise<T> {
    const target = new URL(path, creds.url);
    const body = JSON.stringify(payload);
    const nextHop = context.deadline.forNextHop();
    if (nextHop.expired()) return Promise.reject(new ApiError(504, 'DEADLINE_EXCEEDED', 'The deadline passed before the request reached a worker'));
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          ...whereTo(target, creds),
          path: target.pathname,
          method: 'POST',
          agent,
          signal: context.signal,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            [REQUEST_ID_HEADER]: context.requestId,
            ...nextHop.toHeaders(),
            ...(creds.token ? { authorization: `Bearer ${creds.token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (error) => reject(new RetryableError(error.message)));
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              parsed = undefined;
            }
            const status = res.statusCode ?? 502;
            if (status === 200 && parsed !== undefined) return resolve(parsed as T);
            if (status === 504 && isApiErrorBody(parsed)) return reject(new ApiError(504, parsed.error.code, parsed.error.message));
            if (status >= 500 || !isApiErrorBody(parsed)) {
              const busy = status === 503 && isApiErrorBody(parsed) && parsed.error.code === 'ALL_SLOTS_BUSY';
              return reject(new RetryableError(`worker answered ${status}${isApiErrorBody(parsed) ? ` ${parsed.error.code}` : ''}`, busy));
            }
            reject(new ApiError(status, parsed.error.code, parsed.error.message, parsed.error.details));
          });
        },
      );
      // A client that went away ends the attempt for good (nobody is left to answer).
      req.on('error', (error: NodeJS.ErrnoException) =>
        reject(context.signal.aborted ? new Error('client went away') : new RetryableError(error.message, failedOnStaleSocket(req, error))),
      );
      req.end(body);
    });
  }

  /** Asks the worker running `jobId` to cancel it (it ends with stop reason `cancelled`). */
  async cancel(jobId: string): Promise<boolean> {
    const job = this.running.get(jobId);
    if (!job) return false;
    const target = new URL(`/v1/inference/${encodeURIComponent(jobId)}`, job.creds.url);
    return new Promise<boolean>((resolve) => {
      const req = http.request(
        {
          ...whereTo(target, job.creds),
          path: target.pathname,
          method: 'DELETE',
          agent: job.agent,
          headers: job.creds.token ? { authorization: `Bearer ${job.creds.token}` } : {},
        },
        (res) => {
          res.resume();
          resolve(res.statusCode === 204);
        },
      );
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  private async credentialsFor(lease: Lease): Promise<{ creds: WorkerCredentials; agent: http.Agent }> {
    const client = this.hiveClient(lease.worker.hive);
    if (!client) throw new RetryableError(`hive ${lease.worker.hive} is not connected`);
    const cached = this.credentials.get(lease.key);
    if (cached && cached.pid === lease.worker.pid) return { creds: cached, agent: client.agent };
    let answer: { url: string | null; token?: string | undefined; socket_path?: string | undefined };
    try {
      answer = await client.workerCredentials(lease.worker.id);
    } catch (error) {
      throw new RetryableError(`credentials: ${(error as Error).message}`, true);
    }
    if (!answer.url) throw new RetryableError(`worker ${lease.key} has no port yet`, true);
    const creds = { url: answer.url, token: answer.token, pid: lease.worker.pid, socketPath: answer.socket_path };
    this.credentials.set(lease.key, creds);
    return { creds, agent: client.agent };
  }

  private async streamFrom(
    lease: Lease,
    request: InferenceRequest & { model: string },
    context: DispatchContext,
    sink: InferenceSink,
    startedAt: number,
  ): Promise<{ end: EndEvent | null; ttftMs: number | null }> {
    const { creds, agent } = await this.credentialsFor(lease);
    const target = new URL('/v1/inference', creds.url);
    const body = JSON.stringify(request);
    const nextHop = context.deadline.forNextHop();
    if (nextHop.expired()) throw new ApiError(504, 'DEADLINE_EXCEEDED', 'The deadline passed before the request reached a worker');

    return new Promise((resolve, reject) => {
      const relay = sink.raw !== undefined;
      const literal = !relay && sink.tokenLiteral !== undefined;
      let state = INITIAL_RELAY_STATE;
      let ttftMs: number | null = null;
      /**
       * Feeds one input to the relay's state machine (relayState.ts) and carries out what it decides.
       * Returns false when it cut the worker request: the rest of that stream is not read.
       */
      const drive = (input: RelayInput): boolean => {
        const step = relayStep(state, input, { model: request.model, relay });
        state = step.state;
        let reading = true;
        for (const action of step.actions) {
          switch (action.type) {
            case 'track_job':
              this.running.set(action.job.job_id, { creds, agent });
              break;
            case 'commit':
              ttftMs = performance.now() - startedAt;
              sink.started(action.started, { hive: lease.worker.hive, id: lease.worker.id });
              break;
            case 'emit':
              sink.event(action.event);
              break;
            case 'pass':
              sink.tokenLiteral?.(action.literal);
              break;
            case 'cut':
              req.destroy(new Error(action.reason));
              reading = false;
              break;
            case 'retry':
              answered();
              reject(new RetryableError(action.reason));
              break;
            case 'finish':
              answered();
              resolve({ end: action.end, ttftMs });
              break;
          }
        }
        return reading;
      };
      /** The request is answered: its job is no longer cancellable through the queen. */
      const answered = (): void => {
        if (state.job) this.running.delete(state.job.job_id);
        context.signal.removeEventListener('abort', onAbort);
      };
      /** An answer before the stream began (a non-200 status): the state machine has not started. */
      const refuse = (error: Error): void => {
        if (state.phase === 'done') return;
        state = { ...state, phase: 'done' };
        answered();
        reject(error);
      };
      let responded = false;
      const req = http.request(
        {
          ...whereTo(target, creds),
          path: target.pathname,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            [REQUEST_ID_HEADER]: context.requestId,
            ...nextHop.toHeaders(),
            ...(creds.token ? { authorization: `Bearer ${creds.token}` } : {}),
          },
        },
        (res) => {
          responded = true;
          res.socket?.setNoDelay(true);
          if (res.statusCode !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              let parsed: unknown;
              try {
                parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
              } catch {
                parsed = undefined;
              }
              const status = res.statusCode ?? 502;
              if (status === 503 || status >= 500 || !isApiErrorBody(parsed)) {
                const busy = status === 503 && isApiErrorBody(parsed) && parsed.error.code === 'ALL_SLOTS_BUSY';
                refuse(new RetryableError(`worker answered ${status}${isApiErrorBody(parsed) ? ` ${parsed.error.code}` : ''}`, busy));
              } else {
                refuse(new ApiError(status, parsed.error.code, parsed.error.message, parsed.error.details));
              }
            });
            return;
          }
          const messages = new SseParser();
          // Relay mode: bytes received before the commit, handed over together at the first token.
          let preCommit = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (relay && state.phase === 'waiting') preCommit += chunk;
            for (const message of messages.push(chunk)) {
              // Relayed tokens travel as the worker's bytes: only the other events are parsed.
              if (relay && message.event === 'token') {
                if (!drive({ type: 'token_unparsed' })) return;
                continue;
              }
              // Literal mode: a plain token's text goes on as the worker encoded it (no parse, no re-encode).
              const text = literal && message.event === 'token' ? tokenTextLiteral(message.data) : undefined;
              if (text !== undefined) {
                if (!drive({ type: 'token_unparsed', literal: text })) return;
                continue;
              }
              let event: InferenceEvent | 'done' | undefined;
              try {
                event = parseInferenceBlock(message);
              } catch {
                drive({ type: 'malformed' });
                return;
              }
              if (event === undefined || event === 'done') continue;
              const reading = event.type === 'started' ? drive({ type: 'job_started', event }) : drive({ type: 'message', event });
              if (!reading) return;
            }
            if (state.phase !== 'forwarding') return;
            if (relay) {
              sink.raw?.(preCommit.length > 0 ? preCommit : chunk);
              preCommit = '';
            }
            sink.flush?.();
          });
          res.on('end', () => drive({ type: 'worker_ended' }));
          res.on('error', (error) => drive({ type: 'broken', message: error.message }));
        },
      );
      const onAbort = (): void => {
        drive({ type: 'client_gone' });
      };
      context.signal.addEventListener('abort', onAbort);
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive socket the worker had just closed: the request never reached it (RetryableError).
        if (!responded && !context.signal.aborted && failedOnStaleSocket(req, error)) return refuse(new RetryableError(error.message, true));
        // After the client went away the machine is done: this error (the cut's own) changes nothing.
        drive({ type: 'broken', message: error.message });
      });
      req.end(body);
    });
  }
}
