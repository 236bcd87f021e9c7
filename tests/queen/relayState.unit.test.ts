import { describe, expect, it } from 'vitest';
import type { EndEvent, InferenceEvent, StartedEvent } from '../../src-shared/worker/inferenceWire.js';
import { INITIAL_RELAY_STATE, relayStep, type RelayAction, type RelayInput, type RelayOptions, type RelayState } from '../../src-main/queen/inference/relayState.js';

/**
 * The dispatcher's first-token relay as a pure state machine (src-main/queen/inference/relayState.ts):
 * no processes, sockets or timers. Named cases first, then every input sequence up to a length checked
 * against the rules the dispatcher relies on (one answer, no retry after the first token, honest cuts).
 */
const STARTED: StartedEvent = { type: 'started', job_id: 'job-1', model: 'm' };
const TOKEN: InferenceEvent = { type: 'token', t: 'a', i: 0 };
const END: EndEvent = { type: 'end', tokens_out: 3, decode_ms: 5, stop_reason: 'eos' };
const DEADLINE_END: EndEvent = { type: 'end', tokens_out: 2, decode_ms: 5, stop_reason: 'deadline' };
const WORKER_ERROR: InferenceEvent = { type: 'error', code: 'INTERNAL', message: 'boom' };
const PARSED: RelayOptions = { model: 'm', relay: false };
const RELAY: RelayOptions = { model: 'm', relay: true };

/** Runs inputs from the start; returns the final state and every action, in order. */
function run(inputs: RelayInput[], options: RelayOptions = PARSED): { state: RelayState; actions: RelayAction[] } {
  let state = INITIAL_RELAY_STATE;
  const actions: RelayAction[] = [];
  for (const input of inputs) {
    const step = relayStep(state, input, options);
    state = step.state;
    actions.push(...step.actions);
  }
  return { state, actions };
}

const started: RelayInput = { type: 'job_started', event: STARTED };
const msg = (event: Exclude<InferenceEvent, StartedEvent>): RelayInput => ({ type: 'message', event });
const ended: RelayInput = { type: 'worker_ended' };
const broken = (message = 'socket hang up'): RelayInput => ({ type: 'broken', message });
const gone: RelayInput = { type: 'client_gone' };

describe('relay state machine: before the first token', () => {
  it('a started event is tracked (for cancel) but commits nothing', () => {
    const { state, actions } = run([started]);
    expect(actions).toEqual([{ type: 'track_job', job: STARTED }]);
    expect(state).toMatchObject({ phase: 'waiting', job: STARTED });
  });

  it('the first token commits the worker with its started event, then the token goes out', () => {
    const { state, actions } = run([started, msg(TOKEN)]);
    expect(actions.slice(1)).toEqual([
      { type: 'commit', started: STARTED },
      { type: 'emit', event: TOKEN },
    ]);
    expect(state.phase).toBe('forwarding');
  });

  it('a worker that never sent started still commits, under a placeholder job for the requested model', () => {
    expect(run([msg(TOKEN)]).actions[0]).toEqual({ type: 'commit', started: { type: 'started', job_id: 'unknown', model: 'm' } });
  });

  it('an end without tokens commits too (an empty answer is an answer) and finishes with it', () => {
    const { actions } = run([started, msg(END), ended]);
    expect(actions.slice(1)).toEqual([{ type: 'commit', started: STARTED }, { type: 'emit', event: END }, { type: 'finish', end: END }]);
  });

  it("the worker's error before the first token cuts the request; the connection's end then retries elsewhere", () => {
    const cut = run([started, msg(WORKER_ERROR)]);
    expect(cut.actions.at(-1)).toEqual({ type: 'cut', reason: 'worker error before the first token: INTERNAL' });
    expect(cut.state).toMatchObject({ phase: 'waiting', cut: true });
    expect(run([started, msg(WORKER_ERROR), broken('worker error before the first token: INTERNAL')]).actions.at(-1)).toEqual({
      type: 'retry',
      reason: 'worker error before the first token: INTERNAL',
    });
    expect(run([started, msg(WORKER_ERROR), ended]).actions.at(-1)).toEqual({ type: 'retry', reason: 'worker stream ended before the first token' });
  });

  it('after a cut the rest of that stream is dropped: a token behind the error commits nothing', () => {
    const { actions, state } = run([msg(WORKER_ERROR), msg(TOKEN), { type: 'token_unparsed' }, started]);
    expect(actions).toEqual([{ type: 'cut', reason: 'worker error before the first token: INTERNAL' }]);
    expect(state.phase).toBe('waiting');
  });

  it('a malformed event before the first token cuts, and the failure retries', () => {
    expect(run([{ type: 'malformed' }, broken('malformed event stream from worker')]).actions).toEqual([
      { type: 'cut', reason: 'malformed event stream from worker' },
      { type: 'retry', reason: 'malformed event stream from worker' },
    ]);
  });

  it('a stream that ends or breaks before the first token retries on another worker', () => {
    expect(run([started, ended]).actions.at(-1)).toEqual({ type: 'retry', reason: 'worker stream ended before the first token' });
    expect(run([started, broken('ECONNRESET')]).actions.at(-1)).toEqual({ type: 'retry', reason: 'ECONNRESET' });
  });
});

describe('relay state machine: after the first token', () => {
  it('a complete stream finishes with its end', () => {
    const { actions, state } = run([started, msg(TOKEN), msg(TOKEN), msg(END), ended]);
    expect(actions.at(-1)).toEqual({ type: 'finish', end: END });
    expect(state.phase).toBe('done');
  });

  it('the worker stopping at the deadline is an ordinary end (stop reason deadline); the relay has no clock of its own', () => {
    expect(run([started, msg(TOKEN), msg(DEADLINE_END), ended]).actions.at(-1)).toEqual({ type: 'finish', end: DEADLINE_END });
  });

  it('a stream that breaks without an end tells the client (UPSTREAM_ERROR) and finishes with no end: never a retry', () => {
    const { actions } = run([started, msg(TOKEN), broken('ECONNRESET')]);
    expect(actions.slice(-2)).toEqual([
      { type: 'emit', event: { type: 'error', code: 'UPSTREAM_ERROR', message: 'worker stream broke: ECONNRESET' } },
      { type: 'finish', end: null },
    ]);
  });

  it('a stream that breaks after its end finishes with that end and reports nothing', () => {
    expect(run([started, msg(TOKEN), msg(END), broken()]).actions.slice(-1)).toEqual([{ type: 'finish', end: END }]);
  });

  it('a stream that just stops without an end finishes with none (the route calls that a cut answer)', () => {
    expect(run([started, msg(TOKEN), ended]).actions.at(-1)).toEqual({ type: 'finish', end: null });
  });

  it("the worker's error after the first token is passed on, not retried", () => {
    const { actions, state } = run([started, msg(TOKEN), msg(WORKER_ERROR), ended]);
    expect(actions.slice(-2)).toEqual([{ type: 'emit', event: WORKER_ERROR }, { type: 'finish', end: null }]);
    expect(actions.some((a) => a.type === 'retry' || a.type === 'cut')).toBe(false);
    expect(state.phase).toBe('done');
  });

  it('a malformed event after the first token cuts, then the break is told in the stream', () => {
    expect(run([started, msg(TOKEN), { type: 'malformed' }, broken('malformed event stream from worker')]).actions.slice(-3)).toEqual([
      { type: 'cut', reason: 'malformed event stream from worker' },
      { type: 'emit', event: { type: 'error', code: 'UPSTREAM_ERROR', message: 'worker stream broke: malformed event stream from worker' } },
      { type: 'finish', end: null },
    ]);
  });
});

describe('relay state machine: the client goes away', () => {
  for (const [when, before] of [
    ['before the first token', [started]],
    ['after the first token', [started, msg(TOKEN)]],
  ] as Array<[string, RelayInput[]]>) {
    it(`${when}: the worker request is dropped and the answer is cancelled; the drop's own error changes nothing`, () => {
      const { actions, state } = run([...before, gone, broken('client went away'), ended]);
      expect(actions.slice(-2)).toEqual([
        { type: 'cut', reason: 'client went away' },
        { type: 'finish', end: { type: 'end', tokens_out: 0, decode_ms: 0, stop_reason: 'cancelled' } },
      ]);
      expect(state.phase).toBe('done');
    });
  }
});

describe('relay state machine: relay mode (worker bytes pass through)', () => {
  it('an unparsed token commits once and nothing is emitted for it', () => {
    const { actions } = run([started, { type: 'token_unparsed' }, { type: 'token_unparsed' }, msg(END), ended], RELAY);
    expect(actions).toEqual([
      { type: 'track_job', job: STARTED },
      { type: 'commit', started: STARTED },
      { type: 'finish', end: END },
    ]);
  });

  it("the queen's own report of a broken stream is still emitted (it is not in the worker's bytes)", () => {
    expect(run([{ type: 'token_unparsed' }, broken('EPIPE')], RELAY).actions).toEqual([
      { type: 'commit', started: { type: 'started', job_id: 'unknown', model: 'm' } },
      { type: 'emit', event: { type: 'error', code: 'UPSTREAM_ERROR', message: 'worker stream broke: EPIPE' } },
      { type: 'finish', end: null },
    ]);
  });
});

describe('relay state machine: every input sequence up to length 6', () => {
  const alphabet: RelayInput[] = [started, { type: 'token_unparsed' }, { type: 'token_unparsed', literal: '"x"' }, msg(TOKEN), msg(END), msg(WORKER_ERROR), { type: 'malformed' }, ended, broken(), gone];
  const DEPTH = 6;

  /** What the dispatcher relies on, for one step; returns the broken rule or null. */
  function violation(before: RelayState, input: RelayInput, step: { state: RelayState; actions: RelayAction[] }, history: { answers: number; commits: number }, options: RelayOptions): string | null {
    const types = step.actions.map((a) => a.type);
    if (before.phase === 'done' && (step.actions.length > 0 || step.state !== before)) return 'done is final: nothing happens after the answer';
    const answers = history.answers + types.filter((t) => t === 'retry' || t === 'finish').length;
    if (answers > 1) return 'one answer per request';
    if ((step.state.phase === 'done') !== (answers === 1)) return 'the phase is done exactly when answered';
    const commits = history.commits + types.filter((t) => t === 'commit').length;
    if (commits > 1) return 'committed at most once';
    if ((history.commits > 0 || before.phase === 'forwarding') && types.includes('retry')) return 'never a retry once committed';
    if ((types.includes('emit') || types.includes('pass')) && commits !== 1) return 'nothing reaches the client before the commit';
    if (options.relay && types.includes('pass')) return 'relay mode hands no single token over (its bytes go per chunk)';
    if (!options.relay && input.type === 'token_unparsed' && input.literal !== undefined && !before.cut && before.phase !== 'done' && !types.includes('pass')) return 'a literal token reaches the client';
    if (options.relay && step.actions.some((a) => a.type === 'emit' && !(a.event.type === 'error' && a.event.code === 'UPSTREAM_ERROR'))) {
      return "relay mode emits only the queen's own report of a broken stream";
    }
    if (step.actions.some((a) => a.type === 'finish' && input.type !== 'client_gone' && a.end !== before.end)) return "a finish carries the worker's end, if one came";
    if (step.actions.some((a) => a.type === 'emit' && a.event.type === 'error' && a.event.code === 'UPSTREAM_ERROR') && before.end !== null) return 'a break after the end reports nothing';
    if (before.cut && (input.type === 'message' || input.type === 'token_unparsed' || input.type === 'job_started') && step.actions.length > 0) return 'a cut stream delivers nothing more';
    return null;
  }

  it(`holds the rules the dispatcher relies on (${alphabet.length}^${DEPTH} sequences, both modes)`, () => {
    let checked = 0;
    const failures: string[] = [];
    const walk = (state: RelayState, path: RelayInput[], history: { answers: number; commits: number }, options: RelayOptions): void => {
      if (path.length === DEPTH || failures.length > 0) return;
      for (const input of alphabet) {
        const step = relayStep(state, input, options);
        checked++;
        const broke = violation(state, input, step, history, options);
        if (broke) {
          failures.push(`${broke}: ${JSON.stringify([...path, input].map((i) => (i.type === 'message' ? i.event.type : i.type)))} (relay ${options.relay})`);
          return;
        }
        const types = step.actions.map((a) => a.type);
        walk(step.state, [...path, input], {
          answers: history.answers + types.filter((t) => t === 'retry' || t === 'finish').length,
          commits: history.commits + types.filter((t) => t === 'commit').length,
        }, options);
      }
    };
    for (const options of [PARSED, RELAY]) walk(INITIAL_RELAY_STATE, [], { answers: 0, commits: 0 }, options);
    expect(failures).toEqual([]);
    // Every step of every sequence was looked at: n + n^2 + … + n^6 per mode (n = the alphabet's size).
    expect(checked).toBe(2 * Array.from({ length: DEPTH }, (_, k) => alphabet.length ** (k + 1)).reduce((a, b) => a + b, 0));
  });

  it('the check can fail: a machine that retried after the commit would be caught', () => {
    const committed = run([msg(TOKEN)]).state;
    const wrong = { state: { ...committed, phase: 'done' as const }, actions: [{ type: 'retry', reason: 'x' } as const] };
    expect(violation(committed, ended, wrong, { answers: 0, commits: 1 }, PARSED)).toBe('never a retry once committed');
  });
});

describe('relay state machine: literal tokens (parsed mode, tokens framed without parsing)', () => {
  it('the first literal token commits and is passed; later ones are passed in order; the end is emitted', () => {
    const { actions } = run([started, { type: 'token_unparsed', literal: '"a"' }, { type: 'token_unparsed', literal: '"b"' }, msg(END), ended]);
    expect(actions).toEqual([
      { type: 'track_job', job: STARTED },
      { type: 'commit', started: STARTED },
      { type: 'pass', literal: '"a"' },
      { type: 'pass', literal: '"b"' },
      { type: 'emit', event: END },
      { type: 'finish', end: END },
    ]);
  });

  it('after a cut nothing more is passed', () => {
    const { actions } = run([started, { type: 'token_unparsed', literal: '"a"' }, { type: 'malformed' }, { type: 'token_unparsed', literal: '"b"' }]);
    expect(actions.filter((a) => a.type === 'pass')).toEqual([{ type: 'pass', literal: '"a"' }]);
  });
});
