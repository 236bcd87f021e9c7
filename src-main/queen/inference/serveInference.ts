import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import { Deadline } from '../../../src-shared/deadline/Deadline.js';
import type { EndEvent, ErrorEvent, InferenceEvent, InferenceRequest, StartedEvent } from '../../../src-shared/worker/inferenceWire.js';
import { startSse } from '../../common/http/sse.js';
import type { QueenMetrics } from '../metrics/QueenMetrics.js';
import { cutError, endingOf } from './honestEnding.js';
import type { DispatchResult, InferenceDispatcher } from './InferenceDispatcher.js';

/** How one route frames a stream (worker SSE, OpenAI chunks) or collects it (non-streaming JSON). */
export interface ResponseFormat {
  stream: boolean;
  /** Relay the worker's SSE bytes unchanged (its own wire format); only queen-made errors are encoded. */
  passthrough?: boolean;
  /** Streaming: the SSE text for the start, for one event, and the closing text. */
  onStart?(started: StartedEvent): string;
  onEvent?(event: Exclude<InferenceEvent, StartedEvent>): string;
  /**
   * Streaming: the SSE text for a plain token given as its text's JSON string literal, unparsed
   * (InferenceSink.tokenLiteral). Routes whose chunks are a fixed frame around the text set it: a token
   * then costs neither a JSON.parse nor a JSON.stringify. Without it every token comes to `onEvent`.
   */
  onTokenLiteral?(literal: string): string;
  onClose?(): string;
  /** Non-streaming: sees every event as it arrives (tool calls, logprobs) before `collect`. */
  observe?(event: Exclude<InferenceEvent, StartedEvent>): void;
  /** Non-streaming: the JSON body from the collected text and the end event. */
  collect?(text: string, end: EndEvent | null, started: StartedEvent | null): unknown;
  /**
   * Non-streaming, cut answer (see honestEnding.ts): what goes to `error.partial` — the text so far
   * and its usage. `tokens` counts the tokens received (the end event may be missing).
   */
  partial?(text: string, end: EndEvent | null, tokens: number): unknown;
}

export interface InferenceServices {
  dispatcher: InferenceDispatcher;
  metrics: QueenMetrics;
  audit: AuditSink;
  /** The queen's own ceiling for any request. Defaults to 10 minutes. */
  maxDeadlineMs: number;
  /** Who started each running job (`token:<fp6>`): a scoped key may cancel only its own. */
  jobOwners?: Map<string, string>;
  /** Per-key usage (tokens in/out) once a request ends. */
  onUsage?(request: FastifyRequest, tokensIn: number, tokensOut: number): void;
}

/**
 * Runs one inference for a route: deadline (504 when already past), dispatch, and either an SSE
 * stream (headers only once the first token exists, so errors before it are proper HTTP statuses)
 * or one JSON body. A client that goes away cancels the worker's job.
 */
export async function serveInference(
  services: InferenceServices,
  route: string,
  request: FastifyRequest,
  reply: FastifyReply,
  body: InferenceRequest & { model: string },
  format: ResponseFormat,
): Promise<void> {
  const arrived = performance.now();
  const deadline = Deadline.fromHeaders(request.headers, { maxMs: services.maxDeadlineMs });
  if (deadline.expired()) {
    void services.audit
      .emit({ event_type: 'deadline_exceeded', request_id: request.id, actor: request.actor, client_ip: request.ip, reason: 'expired on arrival', path: route })
      .catch(() => undefined);
    throw new ApiError(504, 'DEADLINE_EXCEEDED', 'The request deadline had passed when it arrived');
  }

  const abort = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  reply.raw.on('close', onClose);

  let streaming = false;
  /** Collected only for a non-streaming answer. */
  let text = '';
  let tokens = 0;
  /** An error the worker (or the queen, for a lost worker) reported after the first token. */
  let failure: ErrorEvent | null = null;
  let startedEvent: StartedEvent | null = null;
  const res = reply.raw;
  // Events of one upstream chunk leave in one write (the worker already batches its tokens).
  let pendingOut = '';
  const flushOut = (): void => {
    if (pendingOut.length > 0 && !res.writableEnded && !res.destroyed) res.write(pendingOut);
    pendingOut = '';
  };
  const write = (chunk: string): void => {
    pendingOut += chunk;
  };

  let result: DispatchResult;
  try {
    result = await services.dispatcher.dispatch(
      body,
      { deadline, requestId: request.id, signal: abort.signal },
      {
        started: (started, worker) => {
          startedEvent = started;
          services.jobOwners?.set(started.job_id, request.actor);
          const servedBy = `${worker.hive}/${worker.id}`;
          if (!format.stream) {
            reply.header('x-rbee-worker', servedBy);
            return;
          }
          streaming = true;
          reply.hijack();
          startSse(res, { 'x-request-id': request.id, 'x-rbee-worker': servedBy }, { flushHeaders: false });
          if (!format.passthrough) write(format.onStart?.(started) ?? '');
        },
        event: (event) => {
          if (event.type === 'token') {
            tokens += 1;
            if (!format.stream) text += event.t;
          }
          if (event.type === 'error') failure = event;
          if (!format.stream) format.observe?.(event);
          if (streaming) write(format.onEvent?.(event) ?? '');
        },
        flush: () => {
          if (streaming) flushOut();
        },
        ...(format.stream && format.passthrough ? { raw: (text: string) => write(text) } : {}),
        ...(format.stream && !format.passthrough && format.onTokenLiteral
          ? {
              tokenLiteral: (literal: string) => {
                tokens += 1;
                if (streaming) write(format.onTokenLiteral?.(literal) ?? '');
              },
            }
          : {}),
      },
    );
  } catch (error) {
    reply.raw.off('close', onClose);
    if (startedEvent) services.jobOwners?.delete((startedEvent as StartedEvent).job_id);
    if (streaming) {
      // Headers are out: the failure can only be told inside the stream.
      const message = error instanceof Error ? error.message : 'inference failed';
      write(format.onEvent?.({ type: 'error', code: error instanceof ApiError ? error.code : 'INTERNAL', message }) ?? '');
      write(format.onClose?.() ?? '');
      flushOut();
      res.end();
      return;
    }
    throw error;
  }
  reply.raw.off('close', onClose);
  if (startedEvent) services.jobOwners?.delete((startedEvent as StartedEvent).job_id);

  const end = result.end;
  if (end) services.onUsage?.(request, end.tokens_in ?? 0, end.tokens_out);
  if (result.ttftMs !== null) services.metrics.ttft.observe({ route }, result.ttftMs / 1000);
  services.metrics.duration.observe({ route }, (performance.now() - arrived) / 1000);
  if (end) services.metrics.tokens.inc({ model: body.model }, end.tokens_out);
  if (result.attempts > 1) services.metrics.retries.inc(result.attempts - 1);
  if (end?.stop_reason === 'deadline') {
    void services.audit.emit({ event_type: 'deadline_exceeded', request_id: request.id, actor: request.actor, reason: 'reached while generating', path: route }).catch(() => undefined);
  }

  if (streaming) {
    // A relayed stream already carried the worker's end and [DONE]; close only what the queen ended.
    if (!(format.passthrough && end)) write(format.onClose?.() ?? '');
    flushOut();
    if (!res.writableEnded) res.end();
    return;
  }
  if (abort.signal.aborted) return;
  // A cut answer is never a 200: the client gets the error and, under `error.partial`, what there was.
  const ending = endingOf(end, failure);
  if (ending.kind === 'cut') throw cutError(ending, format.partial?.(text, end, tokens) ?? { text });
  await reply.send(format.collect?.(text, end, startedEvent) ?? { text, end });
}
