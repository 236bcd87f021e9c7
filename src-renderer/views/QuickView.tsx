import { useEffect, useId, useRef, useState } from 'react';
import { MAX_TOKENS_LIMIT } from '../../src-shared/worker/inferenceWire.js';
import { ChatTranscript } from '../components/ChatTranscript.js';
import { ModelSelect, RunStats, useDefaultModel, useModelChoices } from '../components/inference.js';
import { useRbee } from '../stores/store.js';

/**
 * The tray's quick-inference popup (`#/quick`): a short chat (each message goes with the
 * conversation so far), streamed answer, model picker, copy. Enter sends (Shift+Enter: new line).
 * Esc cancels a running answer, otherwise clears the conversation. In the desktop app the shell itself hides the popup on Esc (before-input-event).
 */
export function QuickView() {
  const id = useId();
  const run = useRbee((s) => s.runs.quick);
  const { setRunParams, startRun, cancelRun, clearRun } = useRbee.getState();
  const choices = useModelChoices();
  useDefaultModel('quick', choices);
  const promptRef = useRef<HTMLTextAreaElement>(null);
  const [copyState, setCopyState] = useState<string>('');
  const active = run.status === 'running' || run.status === 'cancelling';

  useEffect(() => {
    promptRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      e.preventDefault();
      const r = useRbee.getState().runs.quick;
      if (r.status === 'running') {
        cancelRun('quick');
        return;
      }
      clearRun('quick');
      setCopyState('');
      promptRef.current?.focus();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [cancelRun, clearRun]);

  const send = () => {
    if (!active && run.params.model && run.params.prompt.trim()) {
      setCopyState('');
      void startRun('quick');
    }
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(run.output);
      setCopyState('Copied to the clipboard.');
    } catch (error) {
      setCopyState(`Copy failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  return (
    <main className="quick" aria-labelledby={`${id}-h`}>
      <h1 id={`${id}-h`} className="quick-h">
        Quick inference
      </h1>
      <div className="quick-row">
        <label htmlFor={`${id}-model`}>Model</label>
        <ModelSelect id={`${id}-model`} run="quick" choices={choices} />
      </div>
      <details className="quick-options">
        <summary>Options</summary>
        <div className="quick-row">
          <label htmlFor={`${id}-max`}>Max tokens</label>
          <input
            id={`${id}-max`}
            type="number"
            min={1}
            max={MAX_TOKENS_LIMIT}
            value={run.params.maxTokens}
            onChange={(e) => setRunParams('quick', { maxTokens: Math.min(MAX_TOKENS_LIMIT, Math.max(1, Math.round(Number(e.target.value) || 1))) })}
          />
          <label className="check">
            <input type="checkbox" checked={run.params.ignoreEos} onChange={(e) => setRunParams('quick', { ignoreEos: e.target.checked })} /> Ignore end-of-sequence
          </label>
        </div>
      </details>
      <ChatTranscript run="quick" />
      <label htmlFor={`${id}-prompt`} className="visually-hidden">
        Prompt
      </label>
      <textarea
        id={`${id}-prompt`}
        ref={promptRef}
        rows={3}
        placeholder="Ask something… (Enter sends, Shift+Enter new line, Esc clears the chat)"
        value={run.params.prompt}
        onChange={(e) => setRunParams('quick', { prompt: e.target.value })}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey) {
            e.preventDefault();
            send();
          }
        }}
      />
      <div className="quick-actions">
        <button type="button" className="primary" onClick={send} disabled={active || !run.params.prompt.trim() || !run.params.model}>
          Send
        </button>
        <button type="button" className="danger" onClick={() => cancelRun('quick')} disabled={!active}>
          Cancel
        </button>
        <button type="button" onClick={() => void copy()} disabled={run.output === ''}>
          Copy
        </button>
        <span role="status" className="sub" data-testid="copy-status">
          {copyState}
        </span>
      </div>
      {run.error ? (
        <p className="error-text" role="alert">
          {run.error}
        </p>
      ) : null}
      <pre className="answer quick-answer" data-testid="answer" tabIndex={0} role="region" aria-label="Answer">
        {run.output}
      </pre>
      <RunStats run={run} />
    </main>
  );
}
