import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { Deadline } from '../../src-shared/deadline/Deadline.js';
import { InferenceRequestSchema, encodeSseEvent, SSE_DONE, type InferenceEvent } from '../../src-shared/worker/inferenceWire.js';
import { secureTier, type TierSecurity } from '../auth/secureTier.js';
import { createHttpServer } from '../common/http/createHttpServer.js';
import { parseBody } from '../common/http/parseBody.js';
import { startSse } from '../common/http/sse.js';
import type { Logger } from '../common/log/createLogger.js';
import { EmbeddingsRequestSchema, type TokenCountResponse } from '../../src-shared/worker/embeddingsWire.js';
import { PromptTooLongError, UnsupportedRequestError, type AbortCause, type ModelRuntime, type PreparedInput } from './ModelRuntime.js';
import { SseBatcher } from './SseBatcher.js';

export type WorkerServerState = 'loading' | 'ready' | 'error' | 'stopping';

export interface WorkerServerOptions {
  workerId: string;
  /** Name callers use for this model (defaults to the file name at the CLI). */
  modelName: string;
  /** Bearer token (the hive hands each worker its own). */
  token: string;
  /** The address the server will bind (its Host allowlist). Defaults to 127.0.0.1. */
  host?: string;
  logger: Logger;
  audit: AuditSink;
  /** Longest a request may run, whatever deadline it carries. Defaults to 10 min. */
  maxDeadlineMs?: number;
  /** Gather tokens for this long per write after the first (see SseBatcher). Defaults to 10 ms; 0 = per token. */
  streamFlushMs?: number;
  /** Asked by `POST /v1/shutdown`; the owner decides how to stop. */
  onShutdownRequested: () => void;
}

/** Input the worker cannot serve as asked becomes a 400; anything else stays a server error. */
function asClientError(error: unknown): unknown {
  if (error instanceof PromptTooLongError || error instanceof UnsupportedRequestError) return new ApiError(400, 'INVALID_REQUEST', error.message);
  return error;
}

interface Job {
  id: string;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * The worker's HTTP face: health, readiness, one SSE inference stream per slot, cancel, shutdown.
 * The model arrives later (`attachRuntime`) so `/v1/ready` can report loading progress meanwhile.
 */
export class WorkerServer {
  readonly app: FastifyInstance;
  private state: WorkerServerState = 'loading';
  private progress = 0;
  private errorMessage: string | null = null;
  private runtime: ModelRuntime | undefined;
  private readonly jobs = new Map<string, Job>();
  private readonly startedAt = Date.now();
  /** Epoch ms of the last job start or end (the hive's idle TTL reads it from /health). */
  private lastRequestAt: number | null = null;

  constructor(private readonly options: WorkerServerOptions) {
    this.app = createHttpServer({ logger: options.logger });
    const security = secureTier(this.app, {
      boundHost: options.host ?? '127.0.0.1',
      port: () => {
        const address = this.app.server.address();
        return typeof address === 'object' && address !== null ? address.port : 0;
      },
      token: options.token,
      audit: options.audit,
    });
    this.publicRoutes();
    this.protectedRoutes(security);
  }

  attachRuntime(runtime: ModelRuntime): void {
    this.runtime = runtime;
    this.state = 'ready';
    this.progress = 1;
  }

  setLoadProgress(progress: number): void {
    this.progress = progress;
  }

  setLoadError(message: string): void {
    this.state = 'error';
    this.errorMessage = message;
  }

  get inFlight(): number {
    return this.jobs.size;
  }

  /** Stop taking work; wait up to `drainMs` for running jobs, then cancel the rest. */
  async drain(drainMs: number): Promise<void> {
    this.state = 'stopping';
    const running = [...this.jobs.values()];
    if (running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainMs);
    });
    await Promise.race([Promise.all(running.map((job) => job.done)), timeout]);
    clearTimeout(timer);
    for (const job of this.jobs.values()) job.controller.abort('cancelled' satisfies AbortCause);
    await Promise.all([...this.jobs.values()].map((job) => job.done));
  }

  /** The checks every model request passes first: deadline, model name, readiness. */
  private readyRuntime(model: string | undefined, deadline: Deadline, requestId?: string): ModelRuntime {
    if (deadline.expired()) {
      void this.options.audit.emit({ event_type: 'deadline_exceeded', request_id: requestId, worker_id: this.options.workerId, reason: 'expired on arrival' }).catch(() => undefined);
      throw new ApiError(504, 'DEADLINE_EXCEEDED', 'The request deadline had passed when it arrived');
    }
    if (model !== undefined && model !== this.options.modelName) {
      throw new ApiError(404, 'MODEL_NOT_FOUND', `This worker serves '${this.options.modelName}', not '${model}'`);
    }
    if (this.state === 'stopping') throw new ApiError(503, 'SHUTTING_DOWN', 'Worker is shutting down', undefined, { 'retry-after': '1' });
    const runtime = this.runtime;
    if (this.state !== 'ready' || !runtime) {
      throw new ApiError(503, 'MODEL_NOT_READY', `Model is ${this.state}`, undefined, { 'retry-after': '1' });
    }
    return runtime;
  }

  private publicRoutes(): void {
    this.app.get('/health', async () => ({
      status: this.state === 'ready' ? 'ok' : this.state,
      worker_id: this.options.workerId,
      model: this.options.modelName,
      device: this.runtime?.device ?? null,
      slots: { total: this.runtime?.slotCount ?? 0, free: this.runtime?.freeSlotCount ?? 0 },
      vram: (await this.runtime?.vramState()) ?? null,
      uptime_ms: Date.now() - this.startedAt,
      in_flight: this.jobs.size,
      last_request_at: this.jobs.size > 0 ? Date.now() : this.lastRequestAt,
    }));
  }

  private protectedRoutes(security: TierSecurity): void {
    security.protect((app) => this.routes(app));
  }

  private routes(app: FastifyInstance): void {
    app.get('/v1/ready', async () => ({
      state: this.state,
      progress: this.progress,
      ...(this.errorMessage ? { message: this.errorMessage } : {}),
    }));

    app.post('/v1/shutdown', async (_request, reply) => {
      reply.code(202).send({ status: 'stopping' });
      setImmediate(this.options.onShutdownRequested);
    });

    app.delete<{ Params: { job_id: string } }>('/v1/inference/:job_id', async (request, reply) => {
      const job = this.jobs.get(request.params.job_id);
      if (!job) throw new ApiError(404, 'NOT_FOUND', `No running job ${request.params.job_id}`);
      job.controller.abort('cancelled' satisfies AbortCause);
      return reply.code(204).send();
    });

    app.post('/v1/embeddings', async (request) => {
      const deadline = Deadline.fromHeaders(request.headers, { maxMs: this.options.maxDeadlineMs ?? 600_000 });
      const body = parseBody(EmbeddingsRequestSchema, request.body);
      const runtime = this.readyRuntime(body.model, deadline);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new ApiError(504, 'DEADLINE_EXCEEDED', 'The deadline passed while embedding')), deadline.remainingMs());
      this.lastRequestAt = Date.now();
      try {
        const { vectors, tokens } = await runtime.embed(body.input, controller.signal);
        return { model: this.options.modelName, dimensions: runtime.embeddingSize, embeddings: vectors, tokens_in: tokens };
      } catch (error) {
        throw asClientError(error);
      } finally {
        clearTimeout(timer);
        this.lastRequestAt = Date.now();
      }
    });

    app.post('/v1/tokenize', async (request) => {
      const deadline = Deadline.fromHeaders(request.headers, { maxMs: this.options.maxDeadlineMs ?? 600_000 });
      const body = parseBody(InferenceRequestSchema, request.body);
      const runtime = this.readyRuntime(body.model, deadline);
      try {
        return { tokens_in: (await runtime.prepare(body)).tokens.length } satisfies TokenCountResponse;
      } catch (error) {
        throw asClientError(error);
      }
    });

    app.post('/v1/inference', async (request, reply) => {
      const deadline = Deadline.fromHeaders(request.headers, { maxMs: this.options.maxDeadlineMs ?? 600_000 });
      const body = parseBody(InferenceRequestSchema, request.body);
      const runtime = this.readyRuntime(body.model, deadline, request.id);
      let input: PreparedInput;
      try {
        input = await runtime.prepare(body);
      } catch (error) {
        throw asClientError(error);
      }
      const slot = runtime.acquireSlot();
      if (!slot) throw new ApiError(503, 'ALL_SLOTS_BUSY', 'All slots are busy', undefined, { 'retry-after': '1' });

      const jobId = randomUUID();
      const controller = new AbortController();
      let resolveDone!: () => void;
      const job: Job = { id: jobId, controller, done: new Promise<void>((r) => (resolveDone = r)) };
      this.jobs.set(jobId, job);

      reply.hijack();
      const res = reply.raw;
      startSse(res, { 'x-request-id': request.id, 'x-job-id': jobId }, { flushHeaders: false });
      this.lastRequestAt = Date.now();
      const batcher = new SseBatcher(res, this.options.streamFlushMs ?? 10);
      const send = (event: InferenceEvent): void => {
        if (event.type === 'token') batcher.token(encodeSseEvent(event));
        else if (event.type === 'started') batcher.hold(encodeSseEvent(event));
        else batcher.control(encodeSseEvent(event));
      };

      // Client gone → cancel within one token; deadline → stop with reason `deadline`.
      const onClose = (): void => {
        if (!res.writableFinished) controller.abort('cancelled' satisfies AbortCause);
      };
      res.on('close', onClose);
      const deadlineTimer = setTimeout(() => controller.abort('deadline' satisfies AbortCause), deadline.remainingMs());

      send({ type: 'started', job_id: jobId, model: this.options.modelName, deadline_at: deadline.at });
      try {
        const result = await runtime.generate(slot, input, body, {
          signal: controller.signal,
          onText: (t, i, lp) => send(lp ? { type: 'token', t, i, lp } : { type: 'token', t, i }),
          onToolCall: (call) => send({ type: 'tool_call', ...call }),
        });
        if (result.stopReason === 'deadline') {
          void this.options.audit.emit({ event_type: 'deadline_exceeded', request_id: request.id, worker_id: this.options.workerId, reason: 'reached while generating' }).catch(() => undefined);
        }
        send({ type: 'end', tokens_in: input.tokens.length, tokens_out: result.tokensOut, decode_ms: Math.round(result.decodeMs * 1000) / 1000, stop_reason: result.stopReason });
        // One line per job: what an operator following the worker's log (dashboard, `rbee logs -f`) sees.
        request.log.info({ job_id: jobId, tokens_in: input.tokens.length, tokens_out: result.tokensOut, stop_reason: result.stopReason }, 'job finished');
      } catch (error) {
        request.log.error({ err: error, job_id: jobId }, 'generation failed');
        send({ type: 'error', code: 'INTERNAL', message: error instanceof Error ? error.message : 'generation failed' });
      } finally {
        clearTimeout(deadlineTimer);
        res.off('close', onClose);
        batcher.end(SSE_DONE);
        this.lastRequestAt = Date.now();
        runtime.releaseSlot(slot);
        this.jobs.delete(jobId);
        resolveDone();
      }
    });
  }
}
