import type { EndEvent, InferenceEvent, StartedEvent } from '../../../src-shared/worker/inferenceWire.js';

/**
 * The decisions of the queen's relay of one worker stream (InferenceDispatcher.streamFrom), as a pure
 * state machine: no sockets, no timers, no clock. The dispatcher turns what happens on the worker
 * connection into {@link RelayInput}s and carries out the {@link RelayAction}s it gets back.
 *
 * The rule it encodes: until the first token the request is not committed, and any failure (an error
 * event, a malformed stream, the stream ending or breaking) sends it to another worker; the first token
 * (or an end without tokens) commits this worker, after which a failure can only be told honestly
 * inside the stream (an `error` event when no `end` came) and the answer finishes with what there was.
 *
 * Phases:
 *  - `waiting`: connected, no token yet; a failure means `retry`.
 *  - `forwarding`: committed to this worker; events go to the client.
 *  - `done`: answered (`retry` or `finish` was returned once); every later input is ignored.
 *
 * There is no deadline input: the queen forwards the deadline to the worker (X-Deadline headers), and
 * the worker ends the stream itself with stop reason `deadline`, which arrives here as an `end`.
 */
export type RelayPhase = 'waiting' | 'forwarding' | 'done';

export interface RelayState {
  readonly phase: RelayPhase;
  /**
   * The relay destroyed the worker request itself (`cut`): the rest of that stream is dropped, and the
   * connection's end or error that follows decides the outcome as in the phase it happened.
   */
  readonly cut: boolean;
  /** The worker's `started` (its job id, for cancel), once seen. */
  readonly job: StartedEvent | null;
  /** The worker's `end`, once seen. */
  readonly end: EndEvent | null;
}

export type RelayInput =
  /** The worker accepted the job (`started`). */
  | { type: 'job_started'; event: StartedEvent }
  /**
   * A token that is not parsed: in relay mode it travels in the worker's bytes; otherwise `literal` is
   * its text as the worker's JSON string literal (the route frames it without parsing it).
   */
  | { type: 'token_unparsed'; literal?: string }
  /** A parsed event: a token (not in relay mode), the end, or the worker's error. */
  | { type: 'message'; event: Exclude<InferenceEvent, StartedEvent> }
  /** An event the relay cannot parse. */
  | { type: 'malformed' }
  /** The worker's response ended. */
  | { type: 'worker_ended' }
  /** The response or the connection failed (`message` says how). */
  | { type: 'broken'; message: string }
  /** The client went away. */
  | { type: 'client_gone' };

export type RelayAction =
  /** Remember the job so `DELETE /v1/inference/{job_id}` on the queen reaches the worker. */
  | { type: 'track_job'; job: StartedEvent }
  /** This worker serves the request (the first token's moment): start the client's stream. */
  | { type: 'commit'; started: StartedEvent }
  /** Hand this event to the client. */
  | { type: 'emit'; event: Exclude<InferenceEvent, StartedEvent> }
  /** Hand this unparsed token (its text as a JSON string literal) to the client. */
  | { type: 'pass'; literal: string }
  /** Destroy the worker request (`reason` is its error); the client gets nothing of the rest. */
  | { type: 'cut'; reason: string }
  /** Answer: not served here, try another worker. */
  | { type: 'retry'; reason: string }
  /** Answer: served, ended with `end` (null: no end event came). */
  | { type: 'finish'; end: EndEvent | null };

export interface RelayOptions {
  /** The requested model, named in the `started` a worker never sent. */
  model: string;
  /**
   * Relay mode: the worker's bytes go to the client as they are, so parsed events are not emitted
   * (they are in those bytes); only errors the queen itself reports are.
   */
  relay: boolean;
}

export interface RelayStep {
  state: RelayState;
  actions: RelayAction[];
}

export const INITIAL_RELAY_STATE: RelayState = { phase: 'waiting', cut: false, job: null, end: null };

/** The one place the relay decides: the next state and what to do, for one input. */
export function relayStep(state: RelayState, input: RelayInput, options: RelayOptions): RelayStep {
  if (state.phase === 'done') return { state, actions: [] };
  switch (input.type) {
    case 'job_started':
      if (state.cut) return { state, actions: [] };
      return { state: { ...state, job: input.event }, actions: [{ type: 'track_job', job: input.event }] };
    case 'token_unparsed': {
      if (state.cut) return { state, actions: [] };
      const pass: RelayAction[] = !options.relay && input.literal !== undefined ? [{ type: 'pass', literal: input.literal }] : [];
      if (state.phase === 'forwarding') return { state, actions: pass };
      return { state: { ...state, phase: 'forwarding' }, actions: [commitAction(state, options), ...pass] };
    }
    case 'message':
      return onMessage(state, input.event, options);
    case 'malformed':
      if (state.cut) return { state, actions: [] };
      return { state: { ...state, cut: true }, actions: [{ type: 'cut', reason: 'malformed event stream from worker' }] };
    case 'worker_ended':
      if (state.phase === 'waiting') return done(state, { type: 'retry', reason: 'worker stream ended before the first token' });
      return done(state, { type: 'finish', end: state.end });
    case 'broken': {
      if (state.phase === 'waiting') return done(state, { type: 'retry', reason: input.message });
      // Honest ending: a stream that broke without an end says so instead of looking complete.
      const told: RelayAction[] = state.end ? [] : [{ type: 'emit', event: { type: 'error', code: 'UPSTREAM_ERROR', message: `worker stream broke: ${input.message}` } }];
      const finished = done(state, { type: 'finish', end: state.end });
      return { state: finished.state, actions: [...told, ...finished.actions] };
    }
    case 'client_gone': {
      // The worker request is dropped (which cancels the job there); the answer counts as cancelled.
      const finished = done(state, { type: 'finish', end: { type: 'end', tokens_out: 0, decode_ms: 0, stop_reason: 'cancelled' } });
      return { state: { ...finished.state, cut: true }, actions: [{ type: 'cut', reason: 'client went away' }, ...finished.actions] };
    }
  }
}

function onMessage(state: RelayState, event: Exclude<InferenceEvent, StartedEvent>, options: RelayOptions): RelayStep {
  if (state.cut) return { state, actions: [] };
  const actions: RelayAction[] = [];
  let next = state;
  if (state.phase === 'waiting') {
    // The first token (or an end without tokens) commits this worker: no retry after this.
    if (event.type === 'error') return { state: { ...state, cut: true }, actions: [{ type: 'cut', reason: `worker error before the first token: ${event.code}` }] };
    actions.push(commitAction(state, options));
    next = { ...next, phase: 'forwarding' };
  }
  if (event.type === 'end') next = { ...next, end: event };
  if (!options.relay) actions.push({ type: 'emit', event });
  return { state: next, actions };
}

function commitAction(state: RelayState, options: RelayOptions): RelayAction {
  return { type: 'commit', started: state.job ?? { type: 'started', job_id: 'unknown', model: options.model } };
}

function done(state: RelayState, answer: Extract<RelayAction, { type: 'retry' | 'finish' }>): RelayStep {
  return { state: { ...state, phase: 'done' }, actions: [answer] };
}
