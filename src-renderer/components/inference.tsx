import { useEffect, useMemo } from 'react';
import { formatRate } from '../lib/format.js';
import { runRate, type InferenceRun, type RunId } from '../stores/playgroundSlice.js';
import { useRbee } from '../stores/store.js';
import { useNow } from './useNow.js';

export interface ModelChoice {
  name: string;
  ready: boolean;
  demo: boolean;
}

/** Models to offer: those served by a ready worker first, then the rest of the catalogs. */
export function useModelChoices(): ModelChoice[] {
  const workers = useRbee((s) => s.cluster.workers);
  const models = useRbee((s) => s.cluster.models);
  return useMemo(() => {
    const ready = new Set(Object.values(workers).filter((w) => w.state === 'idle' || w.state === 'busy').map((w) => w.model));
    const served = new Set(Object.values(workers).map((w) => w.model));
    const demo = new Set(models.filter((m) => m.is_demo).map((m) => m.name));
    const names = [...new Set([...served, ...models.map((m) => m.name)])];
    return names
      .map((name) => ({ name, ready: ready.has(name), demo: demo.has(name) }))
      .sort((a, b) => Number(b.ready) - Number(a.ready) || a.name.localeCompare(b.name));
  }, [workers, models]);
}

/** Selects the first ready model once choices arrive, unless the user picked one. */
export function useDefaultModel(run: RunId, choices: ModelChoice[]): void {
  const model = useRbee((s) => s.runs[run].params.model);
  const setParams = useRbee((s) => s.setRunParams);
  useEffect(() => {
    const first = choices[0];
    if (!model && first) setParams(run, { model: first.name });
  }, [model, choices, run, setParams]);
}

export function ModelSelect({ id, run, choices }: { id: string; run: RunId; choices: ModelChoice[] }) {
  const model = useRbee((s) => s.runs[run].params.model);
  const setParams = useRbee((s) => s.setRunParams);
  return (
    <select id={id} value={model} onChange={(e) => setParams(run, { model: e.target.value })}>
      {choices.length === 0 ? <option value="">No models available</option> : null}
      {choices.map((c) => (
        <option key={c.name} value={c.name}>
          {c.name}
          {c.demo ? ' (demo)' : ''}
          {c.ready ? '' : ' — no ready worker'}
        </option>
      ))}
    </select>
  );
}

const STOP_TEXT: Record<string, string> = {
  max_tokens: 'max tokens reached',
  eos: 'end of sequence',
  stop_sequence: 'stop sequence',
  cancelled: 'cancelled',
  deadline: 'deadline reached',
};

export function RunStats({ run }: { run: InferenceRun }) {
  const now = useNow(250, run.status === 'running' || run.status === 'cancelling');
  const ttft = run.firstTokenAt !== null && run.startedAt !== null ? run.firstTokenAt - run.startedAt : null;
  return (
    <dl className="run-stats" aria-label="Run statistics">
      <div>
        <dt>Status</dt>
        <dd data-testid="run-status">{run.status}</dd>
      </div>
      <div>
        <dt>Tokens</dt>
        <dd data-testid="token-count">{run.tokens}</dd>
      </div>
      <div>
        <dt>Tokens/s</dt>
        <dd data-testid="tokens-per-second">{formatRate(runRate(run, now))}</dd>
      </div>
      <div>
        <dt>First token</dt>
        <dd>{ttft === null ? '—' : `${ttft} ms`}</dd>
      </div>
      <div>
        <dt>Worker</dt>
        <dd data-testid="served-by">{run.worker ?? '—'}</dd>
      </div>
      <div>
        <dt>Stop reason</dt>
        <dd data-testid="stop-reason" data-reason={run.stopReason ?? ''}>
          {run.stopReason ? (STOP_TEXT[run.stopReason] && STOP_TEXT[run.stopReason] !== run.stopReason ? `${run.stopReason} (${STOP_TEXT[run.stopReason]})` : run.stopReason) : '—'}
        </dd>
      </div>
    </dl>
  );
}
