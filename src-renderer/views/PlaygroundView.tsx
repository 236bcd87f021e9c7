import { useId, useState } from 'react';
import { MAX_TOKENS_LIMIT, PROMPT_MAX_CHARS } from '../../src-shared/worker/inferenceWire.js';
import { ChatTranscript } from '../components/ChatTranscript.js';
import { ModelSelect, RunStats, useDefaultModel, useModelChoices } from '../components/inference.js';
import { EmptyState, Field } from '../components/states.js';
import { useRbee } from '../stores/store.js';

export function PlaygroundView() {
  const id = useId();
  const run = useRbee((s) => s.runs.playground);
  const { setRunParams, startRun, cancelRun, clearRun, regenerateRun } = useRbee.getState();
  const turns = useRbee((s) => s.chats.playground.length);
  const [copyState, setCopyState] = useState('');
  const choices = useModelChoices();
  useDefaultModel('playground', choices);
  const p = run.params;
  const active = run.status === 'running' || run.status === 'cancelling';
  const canRun = !active && p.model !== '' && p.prompt.trim() !== '';
  const canRegenerate = !active && p.model !== '' && run.userPrompt !== '' && (run.status === 'done' || run.status === 'error');
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(run.output);
      setCopyState('Copied to the clipboard.');
    } catch (error) {
      setCopyState(`Copy failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  return (
    <section aria-labelledby="pg-h">
      <h1 id="pg-h" tabIndex={-1}>
        Inference playground
      </h1>
      <form
        className="card form-grid playground"
        onSubmit={(e) => {
          e.preventDefault();
          if (canRun) void startRun('playground');
        }}
      >
        <Field label="Model" htmlFor={`${id}-model`}>
          <ModelSelect id={`${id}-model`} run="playground" choices={choices} />
        </Field>
        <Field label="Max tokens" htmlFor={`${id}-max`}>
          <input
            id={`${id}-max`}
            type="number"
            min={1}
            max={MAX_TOKENS_LIMIT}
            value={p.maxTokens}
            onChange={(e) => setRunParams('playground', { maxTokens: Math.min(MAX_TOKENS_LIMIT, Math.max(1, Math.round(Number(e.target.value) || 1))) })}
          />
        </Field>
        <Field label="Temperature" htmlFor={`${id}-temp`}>
          <input
            id={`${id}-temp`}
            type="number"
            min={0}
            max={2}
            step={0.1}
            value={p.temperature}
            onChange={(e) => setRunParams('playground', { temperature: Math.min(2, Math.max(0, Number(e.target.value) || 0)) })}
          />
        </Field>
        <Field label="Seed" htmlFor={`${id}-seed`} hint="Empty: random">
          <input id={`${id}-seed`} inputMode="numeric" value={p.seed} onChange={(e) => setRunParams('playground', { seed: e.target.value.replace(/[^0-9]/g, '') })} />
        </Field>
        <div className="field">
          <span className="field-label-spacer" aria-hidden="true">
            &nbsp;
          </span>
          <label className="check">
            <input type="checkbox" checked={p.ignoreEos} onChange={(e) => setRunParams('playground', { ignoreEos: e.target.checked })} /> Ignore end-of-sequence
          </label>
        </div>
        <Field label="Stop sequences" htmlFor={`${id}-stop`} hint="Comma-separated; generation ends before them">
          <input id={`${id}-stop`} value={p.stop} onChange={(e) => setRunParams('playground', { stop: e.target.value })} aria-describedby={`${id}-stop-hint`} />
        </Field>
        <div className="field wide">
          <label htmlFor={`${id}-system`}>System message</label>
          <textarea id={`${id}-system`} rows={2} maxLength={PROMPT_MAX_CHARS} value={p.system} onChange={(e) => setRunParams('playground', { system: e.target.value })} aria-describedby={`${id}-system-hint`} />
          <span className="hint" id={`${id}-system-hint`}>
            Sent first in every turn; the model's chat template places it.
          </span>
        </div>
        <div className="field wide">
          <label htmlFor={`${id}-prompt`}>Prompt</label>
          <textarea
            id={`${id}-prompt`}
            rows={4}
            maxLength={PROMPT_MAX_CHARS}
            value={p.prompt}
            onChange={(e) => setRunParams('playground', { prompt: e.target.value })}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && canRun) {
                e.preventDefault();
                void startRun('playground');
              }
            }}
          />
          <span className="hint">Ctrl+Enter sends. The conversation so far goes with it.</span>
        </div>
        <div className="form-actions wide">
          <button type="submit" className="primary" disabled={!canRun}>
            Send
          </button>
          <button type="button" className="danger" disabled={!active} onClick={() => cancelRun('playground')}>
            {run.status === 'cancelling' ? 'Cancelling…' : 'Cancel'}
          </button>
          <button type="button" disabled={!canRegenerate} onClick={() => void regenerateRun('playground')}>
            Regenerate
          </button>
          <button
            type="button"
            disabled={active || (run.output === '' && p.prompt === '' && turns === 0 && run.userPrompt === '')}
            onClick={() => {
              clearRun('playground');
              setCopyState('');
            }}
          >
            Clear chat
          </button>
        </div>
      </form>
      {choices.length === 0 ? (
        <EmptyState title="No models to run">
          <p>Start a worker on the Workers page first.</p>
        </EmptyState>
      ) : null}
      <div className="card">
        <h2>Chat</h2>
        <ChatTranscript run="playground" />
        <RunStats run={run} />
        {run.error ? (
          <p className="error-text" role="alert" data-testid="run-error">
            {run.error}
          </p>
        ) : null}
        <pre className="answer" data-testid="answer" tabIndex={0} role="region" aria-label="Streamed answer" aria-busy={run.status === 'running'}>
          {run.output || (run.status === 'running' ? 'Waiting for the first token…' : 'The answer streams here.')}
        </pre>
        <div className="form-actions">
          <button type="button" onClick={() => void copy()} disabled={run.output === '' || active}>
            Copy answer
          </button>
          <span role="status" className="sub" data-testid="copy-status">
            {copyState}
          </span>
        </div>
        <p className="visually-hidden" role="status">
          {run.status === 'done' ? `Finished: ${run.tokens} tokens, ${run.stopReason ?? ''}` : ''}
        </p>
      </div>
    </section>
  );
}
