import { useEffect, useId, useMemo, useRef, useState } from 'react';
import type { WorkerLogLine, WorkerLogsStreamEvent } from '../../src-shared/control/workerLogs.js';
import { getApi } from '../bridge/apiRegistry.js';
import { followWorkerLogs } from '../lib/followWorkerLogs.js';
import { appendLogLines, filterLogLines, formatLogLines } from '../lib/logLines.js';

type StreamState = { state: 'connecting' | 'open' | 'reconnecting' | 'closed'; message?: string | undefined };

const STATE_TEXT: Record<StreamState['state'], string> = {
  connecting: 'Connecting…',
  open: 'Following',
  reconnecting: 'Reconnecting…',
  closed: 'Stopped',
};

/**
 * A worker's live output (stdout + stderr, redacted by its hive): follows new lines, can be paused
 * (lines keep arriving and are counted, the view holds still), searched and copied. The output is
 * deliberately not a live region: a screen reader would read every line.
 */
export function LogsPanel({ hiveId, workerId, onClose }: { hiveId: string; workerId: string; onClose: () => void }) {
  const [lines, setLines] = useState<WorkerLogLine[]>([]);
  const [stream, setStream] = useState<StreamState>({ state: 'connecting' });
  const [paused, setPaused] = useState(false);
  const [frozen, setFrozen] = useState<WorkerLogLine[] | null>(null);
  const [query, setQuery] = useState('');
  const [copyState, setCopyState] = useState('');
  const outputRef = useRef<HTMLDivElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const id = useId();

  useEffect(() => {
    setLines([]);
    setStream({ state: 'connecting' });
    // A reset (reconnect) keeps what is shown: the new tail overlaps it and duplicates drop by seq,
    // unless the worker's numbering restarted (a new hive process), which the seq check detects.
    let reset = false;
    const onEvent = (event: WorkerLogsStreamEvent): void => {
      if (event.type === 'reset') reset = true;
      else if (event.type === 'state') setStream({ state: event.state, message: event.message });
      else {
        const first = reset;
        reset = false;
        setLines((prev) => {
          const last = prev.length > 0 ? prev[prev.length - 1]!.seq : -1;
          const base = first && event.line.seq < last && prev.every((l) => l.seq !== event.line.seq) ? [] : prev;
          return appendLogLines(base, [event.line]);
        });
      }
    };
    return followWorkerLogs(getApi(), hiveId, workerId, onEvent);
  }, [hiveId, workerId]);

  useEffect(() => {
    headingRef.current?.focus();
  }, [hiveId, workerId]);

  const shown = paused && frozen ? frozen : lines;
  const visible = useMemo(() => filterLogLines(shown, query), [shown, query]);
  const waiting = paused && frozen ? Math.max(0, (lines[lines.length - 1]?.seq ?? 0) - (frozen[frozen.length - 1]?.seq ?? 0)) : 0;

  // Following = keep the newest line in view (unless paused).
  useEffect(() => {
    const el = outputRef.current;
    if (el && !paused) el.scrollTop = el.scrollHeight;
  }, [visible, paused]);

  const togglePause = (): void => {
    if (paused) {
      setPaused(false);
      setFrozen(null);
    } else {
      setPaused(true);
      setFrozen(lines);
    }
  };

  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(formatLogLines(visible));
      setCopyState(`Copied ${visible.length} line${visible.length === 1 ? '' : 's'} to the clipboard.`);
    } catch {
      setCopyState('Copying failed: the clipboard is not available here.');
    }
  };

  return (
    <section className="card logs-panel" aria-labelledby={`${id}-h`} data-testid="logs-panel">
      <div className="card-head">
        <h2 id={`${id}-h`} ref={headingRef} tabIndex={-1}>
          Logs · <code>{workerId}</code> <span className="sub">on {hiveId}</span>
        </h2>
        <span className="sub" role="status" data-testid="logs-state">
          {paused ? `Paused${waiting > 0 ? ` · ${waiting} new` : ''}` : STATE_TEXT[stream.state]}
          {stream.message && stream.state !== 'open' ? ` · ${stream.message}` : ''}
        </span>
      </div>
      <div className="logs-toolbar">
        <div className="field">
          <label htmlFor={`${id}-search`}>Search</label>
          <input id={`${id}-search`} type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="text in a line" />
        </div>
        <div className="actions">
          <button type="button" className="small" aria-pressed={paused} onClick={togglePause}>
            {paused ? 'Resume' : 'Pause'}
          </button>
          <button type="button" className="small" onClick={() => void copy()} disabled={visible.length === 0}>
            Copy
          </button>
          <button type="button" className="small" onClick={onClose}>
            Close logs
          </button>
        </div>
      </div>
      <p className="sub" aria-live="polite">
        {query.trim() ? `${visible.length} of ${shown.length} lines match.` : `${shown.length} lines.`} {copyState}
      </p>
      <div ref={outputRef} className="logs-output" tabIndex={0} role="region" aria-label={`Output of ${workerId}`} data-testid="logs-output">
        {visible.length === 0 ? (
          <p className="sub">{shown.length === 0 ? 'No output yet.' : 'No line matches the search.'}</p>
        ) : (
          visible.map((l) => (
            <div key={l.seq} className={`log-line log-${l.stream}`} data-seq={l.seq}>
              <span className="log-time">{new Date(l.at).toLocaleTimeString()}</span> <span className="log-stream">{l.stream === 'stderr' ? 'err' : 'out'}</span> {l.text}
            </div>
          ))
        )}
      </div>
    </section>
  );
}
