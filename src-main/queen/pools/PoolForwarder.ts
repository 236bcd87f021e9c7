import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, type ErrorCode } from '../../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import { Deadline, DEADLINE_REMAINING_HEADER } from '../../../src-shared/deadline/Deadline.js';
import { REQUEST_ID_HEADER } from '../../common/http/requestId.js';
import { startSse } from '../../common/http/sse.js';
import type { Logger } from '../../common/log/createLogger.js';
import { mayTryElsewhere } from '../inference/tryElsewhere.js';
import { KEY_LOST, type Pool } from './Pool.js';
import { PoolCallError, readBody } from './PoolHttp.js';
import type { PoolMetrics } from './PoolMetrics.js';

/** A request the resolver sent to a pool: the pool and the engine's name for the model. */
export interface PoolTarget {
  pool: Pool;
  upstreamModel: string;
}

export type PoolRoute = '/chat/completions' | '/completions' | '/embeddings';

/** An engine's error answer is read up to this size (it is only for the message). */
const MAX_ERROR_BODY = 64 * 1024;

const sse = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;
const SSE_DONE = 'data: [DONE]\n\n';
/**
 * Where the complete SSE events in `data` end: just past its last blank line (LF LF, or with CRs:
 * `\r\n\n` ends in LF LF, `\r\n\r\n` in LF CR LF), 0 when no event is complete yet. The relay works
 * on bytes: cutting only at LF never splits a UTF-8 character, and nothing is decoded or re-encoded.
 */
function completeEventsEnd(data: Buffer): number {
  const lf = data.lastIndexOf('\n\n');
  const crlf = data.lastIndexOf('\n\r\n');
  return Math.max(lf === -1 ? 0 : lf + 2, crlf === -1 ? 0 : crlf + 3);
}

/**
 * After `[DONE]` the engine's response is read to its end instead of destroyed, so its keep-alive
 * socket goes back to the pool's agent; an engine that sends on or never ends it is cut after this.
 */
const LINGER_AFTER_DONE_MS = 2_000;

/**
 * Hands an answered stream's connection back to the agent: the rest of the response (the chunk
 * terminator, normally in the same packet as `[DONE]`) is read and dropped. Destroying the response
 * instead closes the socket, and the next request pays a new TCP connection and the engine's accept
 * (measured: most of the pool hop's first-token cost, docs/benchmarks.md).
 */
function releaseAfterDone(res: IncomingMessage): void {
  if (res.complete || res.destroyed) return;
  const linger = setTimeout(() => res.destroy(), LINGER_AFTER_DONE_MS);
  linger.unref();
  res.once('close', () => clearTimeout(linger));
  res.resume();
}

/** How the forward ended, for metrics and the log line. */
type Outcome = 'ok' | 'upstream_error' | 'deadline' | 'client_gone' | 'rejected';

/** The pool failed (counts toward its breaker) and the client gets this status. */
class PoolFailure extends Error {
  constructor(
    message: string,
    readonly status = 502,
  ) {
    super(message);
  }
}

/** A client error or a busy engine relayed: not the pool's failure. */
function relayedError(pool: string, status: number, body: Buffer, retryAfter: string | undefined): ApiError | PoolFailure {
  let message = `pool ${pool} answered ${status}`;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: { message?: unknown } | string; message?: unknown };
    const text = typeof parsed.error === 'string' ? parsed.error : typeof parsed.error?.message === 'string' ? parsed.error.message : typeof parsed.message === 'string' ? parsed.message : undefined;
    if (text) message = `${message}: ${text.slice(0, 500)}`;
  } catch {
    // not JSON: the status says enough
  }
  if (status === 429 || status === 503) return new ApiError(503, 'MODEL_UNAVAILABLE', message, undefined, { 'retry-after': retryAfter && /^\d{1,6}$/.test(retryAfter) ? retryAfter : '1' });
  // The engine enforced the forwarded deadline itself (it is a few ms earlier than the queen's).
  if (status === 504) return new ApiError(504, 'DEADLINE_EXCEEDED', message);
  // The queen's own key was refused: the client's key is fine, so this is no 401 for the client.
  if (status === 401 || status === 403) return new PoolFailure(`${message} (the pool refused the queen's API key for it)`);
  if (status >= 500) return new PoolFailure(message);
  const codes: Record<number, ErrorCode> = { 404: 'MODEL_NOT_FOUND', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };
  return new ApiError(status >= 400 && status < 500 ? status : 502, codes[status] ?? (status >= 400 && status < 500 ? 'INVALID_REQUEST' : 'UPSTREAM_ERROR'), message);
}

/**
 * Forwards one OpenAI request to a pool and relays its answer with the queen's guarantees:
 * - the breaker is asked first (open → 503 with Retry-After, at once), the pool's concurrency gate next;
 * - the deadline becomes a timer that disconnects from the engine (engines abort on disconnect) and
 *   answers 504, and travels on as `X-Deadline-Remaining-Ms`;
 * - anything not what the API promises (status, content type, invalid JSON, an oversized body) is a
 *   clean 502 before the first byte, a breaker failure, never a half answer;
 * - a stream is relayed event by event (never half an event); a cut, a broken or an overdue stream
 *   ends with an error event and `[DONE]`, never as if complete.
 */
export class PoolForwarder {
  constructor(
    private readonly deps: { metrics: PoolMetrics; audit: AuditSink; logger: Logger; maxDeadlineMs: number },
  ) {}

  /**
   * Tries each target in order until one answers. It moves on only before the first byte of an
   * answer and only when a pool cannot serve now (breaker open, unreachable, busy: mayTryElsewhere);
   * the last target's error is the client's.
   */
  async forwardFirst(targets: readonly PoolTarget[], route: PoolRoute, body: Record<string, unknown>, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    for (const [index, target] of targets.entries()) {
      try {
        return await this.forward(target, route, body, request, reply);
      } catch (error) {
        const next = targets[index + 1];
        if (!next || !mayTryElsewhere(error, reply)) throw error;
        this.deps.logger.info({ request_id: request.id, pool: target.pool.name, next: next.pool.name, error: (error as Error).message }, 'pool could not serve; trying the next');
      }
    }
  }

  async forward(target: PoolTarget, route: PoolRoute, body: Record<string, unknown>, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { pool } = target;
    const deadline = Deadline.fromHeaders(request.headers, { maxMs: this.deps.maxDeadlineMs });
    if (deadline.expired()) throw new ApiError(504, 'DEADLINE_EXCEEDED', 'The request deadline had passed when it arrived');
    if (pool.keyLost) {
      this.deps.metrics.requests.inc({ pool: pool.name, outcome: 'rejected' });
      throw new ApiError(503, 'MODEL_UNAVAILABLE', `Pool ${pool.name} cannot be used: ${KEY_LOST}`);
    }
    const admission = pool.breaker.admit();
    if (!admission.ok) {
      this.deps.metrics.requests.inc({ pool: pool.name, outcome: 'rejected' });
      throw new ApiError(503, 'MODEL_UNAVAILABLE', `Pool ${pool.name} is unavailable: ${admission.reason}`, undefined, {
        'retry-after': String(Math.max(1, Math.ceil(admission.retryAfterMs / 1000))),
      });
    }

    const arrived = performance.now();
    const abort = new AbortController();
    let stopCause: 'client' | 'deadline' | null = null;
    const stop = (cause: 'client' | 'deadline'): void => {
      if (stopCause !== null) return;
      stopCause = cause;
      abort.abort();
    };
    const onClientClose = (): void => {
      if (!reply.raw.writableFinished) stop('client');
    };
    reply.raw.on('close', onClientClose);
    const deadlineTimer = setTimeout(() => stop('deadline'), deadline.remainingMs());

    let outcome: Outcome = 'upstream_error';
    let verdict: 'success' | 'failure' | 'none' = 'none';
    let release: (() => void) | undefined;
    try {
      // `abort` fires for the client and for the deadline alike: a waiter it removes is answered by its cause.
      release = await pool.gate.acquire(deadline, abort.signal).catch((error: unknown) => {
        throw stopCause === null ? error : this.stopped(stopCause);
      });
      const upstreamBody = JSON.stringify({ ...body, model: target.upstreamModel });
      const next = deadline.forNextHop();
      let res: IncomingMessage;
      try {
        res = await pool.http.call({
          method: 'POST',
          path: route,
          body: upstreamBody,
          headers: { [REQUEST_ID_HEADER]: request.id, [DEADLINE_REMAINING_HEADER]: String(Math.max(1, next.remainingMs())) },
          signal: abort.signal,
        });
      } catch (error) {
        if (error instanceof PoolCallError && error.kind === 'aborted') throw this.stopped(stopCause);
        throw new PoolFailure(`pool ${pool.name} did not answer: ${(error as Error).message}`);
      }
      const stream = body.stream === true;
      const result = await (res.statusCode === 200 ? (stream ? this.relayStream(target, res, reply, request, abort.signal, () => stopCause) : this.relayJson(target, res, reply, () => stopCause)) : this.refuse(pool, res, () => stopCause));
      outcome = result.outcome;
      verdict = result.outcome === 'ok' ? 'success' : result.outcome === 'upstream_error' ? 'failure' : 'none';
      this.deps.metrics.observe(pool.name, { ttftMs: result.ttftMs, usage: result.usage });
    } catch (error) {
      if (error instanceof PoolFailure) {
        verdict = 'failure';
        outcome = 'upstream_error';
        throw new ApiError(error.status, 'UPSTREAM_ERROR', error.message);
      }
      if (error instanceof ApiError) {
        outcome = error.code === 'DEADLINE_EXCEEDED' ? 'deadline' : 'rejected';
        // A relayed 503/4xx is an answer: the engine is alive.
        if (stopCause === null && (error.code === 'MODEL_UNAVAILABLE' || (error.status >= 400 && error.status < 500))) verdict = 'success';
      }
      throw error;
    } finally {
      clearTimeout(deadlineTimer);
      reply.raw.off('close', onClientClose);
      release?.();
      if (verdict === 'success') pool.breaker.recordSuccess();
      else if (verdict === 'failure') {
        pool.breaker.recordFailure();
        pool.setHealth('unreachable', `a request failed (${request.id})`);
      } else pool.breaker.releaseTrial();
      if (stopCause === 'deadline') outcome = 'deadline';
      if (stopCause === 'client') outcome = 'client_gone';
      this.deps.metrics.requests.inc({ pool: pool.name, outcome });
      this.deps.logger.info(
        { request_id: request.id, pool: pool.name, model: target.upstreamModel, route, outcome, ms: Math.round(performance.now() - arrived) },
        'pool request',
      );
      if (outcome === 'deadline') {
        void this.deps.audit
          .emit({ event_type: 'deadline_exceeded', request_id: request.id, actor: request.actor, path: `/v1${route}`, reason: 'reached at a pool', details: { pool: pool.name } })
          .catch(() => undefined);
      }
    }
  }

  private stopped(cause: 'client' | 'deadline' | null): ApiError {
    if (cause === 'deadline') return new ApiError(504, 'DEADLINE_EXCEEDED', 'The deadline passed before the pool answered');
    return new ApiError(499, 'INTERNAL', 'the client went away');
  }

  /** A non-200 answer: relayed when it is the client's error or a busy engine, else a pool failure. */
  private async refuse(pool: Pool, res: IncomingMessage, stopCause: () => 'client' | 'deadline' | null): Promise<never> {
    let body: Buffer;
    try {
      body = await readBody(res, MAX_ERROR_BODY);
    } catch {
      if (stopCause() !== null) throw this.stopped(stopCause());
      body = Buffer.alloc(0);
    }
    const retryAfter = res.headers['retry-after'];
    throw relayedError(pool.name, res.statusCode ?? 502, body, typeof retryAfter === 'string' ? retryAfter : undefined);
  }

  private async relayJson(
    target: PoolTarget,
    res: IncomingMessage,
    reply: FastifyReply,
    stopCause: () => 'client' | 'deadline' | null,
  ): Promise<{ outcome: Outcome; ttftMs: number | null; usage: unknown }> {
    const started = performance.now();
    const type = res.headers['content-type'] ?? '';
    if (!/^application\/([a-z.+-]*\+)?json/i.test(type)) {
      res.destroy();
      throw new PoolFailure(`pool ${target.pool.name} answered with content type '${type.slice(0, 100)}', not JSON`);
    }
    let raw: Buffer;
    try {
      raw = await readBody(res, target.pool.record.max_body_bytes);
    } catch (error) {
      if (stopCause() !== null) throw this.stopped(stopCause());
      throw new PoolFailure(`pool ${target.pool.name}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new PoolFailure(`pool ${target.pool.name} answered invalid JSON`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new PoolFailure(`pool ${target.pool.name} answered JSON that is not an object`);
    await reply.header('x-rbee-pool', target.pool.name).type('application/json; charset=utf-8').send(raw);
    return { outcome: 'ok', ttftMs: performance.now() - started, usage: (parsed as { usage?: unknown }).usage };
  }

  private relayStream(
    target: PoolTarget,
    res: IncomingMessage,
    reply: FastifyReply,
    request: FastifyRequest,
    signal: AbortSignal,
    stopCause: () => 'client' | 'deadline' | null,
  ): Promise<{ outcome: Outcome; ttftMs: number | null; usage: unknown }> {
    const { pool } = target;
    const type = res.headers['content-type'] ?? '';
    if (!/^text\/event-stream/i.test(type)) {
      res.destroy();
      throw new PoolFailure(`pool ${pool.name} answered a stream request with content type '${type.slice(0, 100)}', not text/event-stream`);
    }
    const out = reply.raw;
    const started = performance.now();
    const maxEvent = pool.record.max_body_bytes;
    return new Promise((resolve, reject) => {
      let committed = false;
      let done = false;
      let finished = false;
      /** Bytes of an event not complete yet (the rest arrives in the next chunk). */
      let pending: Buffer | null = null;
      let usage: unknown;
      let ttftMs: number | null = null;
      const commit = (): void => {
        committed = true;
        ttftMs = performance.now() - started;
        reply.hijack();
        startSse(out, { 'x-request-id': request.id, 'x-rbee-pool': pool.name }, { flushHeaders: false });
      };
      /** Ends the client's stream; a stream that did not reach [DONE] gets an error event first. */
      const finish = (failure: { code: string; message: string } | null, outcome: Outcome): void => {
        if (finished) return;
        finished = true;
        signal.removeEventListener('abort', onAbort);
        // A complete answer keeps its connection; anything else drops it (that is how engines learn to stop).
        if (done) releaseAfterDone(res);
        else res.destroy();
        if (!committed) {
          if (outcome === 'deadline' || outcome === 'client_gone') reject(this.stopped(stopCause()));
          else reject(new PoolFailure(`pool ${pool.name}: ${failure?.message ?? 'the stream ended before any event'}`));
          return;
        }
        if (!out.destroyed && !out.writableEnded) {
          if (!done && failure) out.write(sse({ error: { message: failure.message, type: 'server_error', param: null, code: failure.code } }) + SSE_DONE);
          out.end();
        }
        resolve({ outcome, ttftMs, usage });
      };
      const onAbort = (): void => {
        const cause = stopCause();
        finish(
          cause === 'deadline' ? { code: 'deadline_exceeded', message: 'The deadline passed while the pool was still streaming; the stream was cut there' } : null,
          cause === 'deadline' ? 'deadline' : 'client_gone',
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });

      res.on('data', (chunk: Buffer) => {
        if (finished || done) return;
        const data = pending === null ? chunk : Buffer.concat([pending, chunk]);
        const end = completeEventsEnd(data);
        if (end === 0) {
          pending = data;
          if (data.length > maxEvent) finish({ code: 'upstream_error', message: `pool ${pool.name} sent one event larger than ${maxEvent} bytes` }, 'upstream_error');
          return;
        }
        const complete = end === data.length ? data : data.subarray(0, end);
        pending = end === data.length ? null : data.subarray(end);
        if (complete.includes('data: [DONE]')) done = true;
        if (complete.includes('"usage"')) usage = lastUsage(complete.toString('utf8')) ?? usage;
        if (!committed) commit();
        if (!out.write(complete)) {
          res.pause();
          out.once('drain', () => res.resume());
        }
        if (done) finish(null, 'ok');
      });
      res.on('end', () => {
        if (done) return finish(null, 'ok');
        finish({ code: 'upstream_error', message: `pool ${pool.name} ended the stream without [DONE]: the answer is incomplete` }, 'upstream_error');
      });
      res.on('error', (error) => {
        if (signal.aborted) return;
        finish({ code: 'upstream_error', message: `pool ${pool.name}: the stream broke: ${error.message}` }, 'upstream_error');
      });
      res.on('aborted', () => {
        if (signal.aborted || done) return;
        finish({ code: 'upstream_error', message: `pool ${pool.name}: the stream was cut off` }, 'upstream_error');
      });
    });
  }
}

/** The `usage` object of the last event that carries one (engines send it in the final chunk). */
function lastUsage(events: string): unknown {
  let found: unknown;
  for (const line of events.split(/\r?\n/)) {
    if (!line.startsWith('data:') || !line.includes('"usage"')) continue;
    try {
      const parsed = JSON.parse(line.slice(5).trim()) as { usage?: unknown };
      if (parsed.usage) found = parsed.usage;
    } catch {
      // a malformed event is the client's to see; it carries no usage for us
    }
  }
  return found;
}
