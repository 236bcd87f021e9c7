import { useId, useMemo, useState, type FormEvent } from 'react';
import type { Device, KvCacheType, WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { WorkerSpec } from '../../src-shared/control/controlSchemas.js';
import { KV_CACHE_TYPES, parseGpuLayers } from '../../src-shared/worker/gpuOptions.js';
import { getApi } from '../bridge/apiRegistry.js';
import { BreakerBadge, WorkerStateBadge } from '../components/badges.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { LogsPanel } from '../components/LogsPanel.js';
import { EmptyState, Field, LoadingState } from '../components/states.js';
import { useNow } from '../components/useNow.js';
import { formatAgo, formatCountdown } from '../lib/format.js';
import { errorMessage } from '../stores/errors.js';
import { workerKey } from '../stores/clusterSlice.js';
import { useRbee } from '../stores/store.js';

type Action = 'start' | 'stop' | 'restart' | 'reset-breaker' | 'delete';
const DESTRUCTIVE: ReadonlySet<Action> = new Set(['stop', 'restart', 'delete']);
const ACTION_LABEL: Record<Action, string> = { start: 'Start', stop: 'Stop', restart: 'Restart', 'reset-breaker': 'Reset breaker', delete: 'Delete' };

/** One row: a declared spec with its worker, a spec whose worker is not there, or a worker no spec declares. */
interface Entry {
  hive: string;
  id: string;
  worker: WorkerInfo | null;
  spec: WorkerSpec | null;
}

function availableActions(w: WorkerInfo): Action[] {
  const actions: Action[] = [];
  if (['stopped', 'failed', 'crashed'].includes(w.state)) actions.push('start');
  if (['loading', 'idle', 'busy', 'unhealthy', 'backoff'].includes(w.state)) actions.push('stop');
  if (w.state !== 'stopping') actions.push('restart');
  if (w.breaker.state !== 'closed') actions.push('reset-breaker');
  actions.push('delete');
  return actions;
}

async function runAction(entry: Entry, action: Action): Promise<void> {
  const api = getApi();
  if (action === 'start') await api.startWorker(entry.hive, entry.id);
  else if (action === 'stop') await api.stopWorker(entry.hive, entry.id);
  else if (action === 'restart') await api.restartWorker(entry.hive, entry.id);
  else if (action === 'delete') await api.deleteWorkerSpec(entry.hive, entry.id);
  else await api.resetBreaker(entry.hive, entry.id);
}

function formatTtl(ms: number | null | undefined): string {
  if (ms === undefined) return "hive's idle TTL";
  if (ms === null) return 'no idle TTL';
  return ms % 60_000 === 0 ? `idle TTL ${ms / 60_000} min` : `idle TTL ${Math.round(ms / 1000)} s`;
}

/** The hot spare's state and memory cost, e.g. ` (ready, 118 MiB)`. */
function formatSpare(spare: WorkerInfo['hot_spare']): string {
  if (!spare) return '';
  return ` (${spare.state}${spare.rss_bytes === null ? '' : `, ${Math.round(spare.rss_bytes / 2 ** 20)} MiB`})`;
}

/** The spec column: whether it is declared, enabled or ephemeral (on demand), and its idle TTL. */
function SpecCell({ spec, spare }: { spec: WorkerSpec | null; spare?: WorkerInfo['hot_spare'] }) {
  if (!spec) {
    return (
      <div>
        <span className="badge tone-muted" data-testid="spec-state">
          undeclared
        </span>
        <span className="sub">no spec; delete removes the entry</span>
      </div>
    );
  }
  const label = spec.ephemeral ? 'on demand' : spec.enabled ? 'enabled' : 'disabled';
  const tone = spec.ephemeral ? 'tone-info' : spec.enabled ? 'tone-ok' : 'tone-muted';
  return (
    <div>
      <span className={`badge ${tone}`} data-testid="spec-state" data-spec-enabled={String(spec.enabled)} data-spec-ephemeral={String(spec.ephemeral)}>
        {label}
      </span>
      <span className="sub" data-testid="spec-ttl">
        {formatTtl(spec.idle_ttl_ms)}
        {spec.hot_spare ? ` · hot spare${formatSpare(spare)}` : ''}
      </span>
    </div>
  );
}

/** A declared spec with no worker (disabled, or its hive away): what it would run, start and delete. */
function SpecOnlyRow({ spec, onAction }: { spec: WorkerSpec; onAction: (e: Entry, a: Action) => void }) {
  const entry: Entry = { hive: spec.hive, id: spec.id, worker: null, spec };
  return (
    <tr data-spec-id={spec.id} data-hive-id={spec.hive} data-state="declared">
      <th scope="row" data-label="Worker">
        <div>
          <code>{spec.id}</code>
          <span className="sub">no process</span>
        </div>
      </th>
      <td data-label="Model">
        <div>{spec.model}</div>
      </td>
      <td data-label="Hive">
        <div>{spec.hive}</div>
      </td>
      <td data-label="Spec">
        <SpecCell spec={spec} />
      </td>
      <td data-label="State" colSpan={6}>
        <div>{spec.enabled ? 'starts when its hive is connected' : 'stopped by an operator'}</div>
      </td>
      <td data-label="Actions">
        <div className="actions">
          {(['start', 'delete'] as const).map((a) => (
            <button key={a} type="button" className={DESTRUCTIVE.has(a) ? 'small danger-outline' : 'small'} aria-label={`${ACTION_LABEL[a]} ${spec.id}`} onClick={() => onAction(entry, a)}>
              {ACTION_LABEL[a]}
            </button>
          ))}
        </div>
      </td>
    </tr>
  );
}

function exitSummary(w: WorkerInfo): string {
  const e = w.last_exit;
  if (!e) return '—';
  const parts = [e.signal ? e.signal : `code ${e.code ?? '?'}`];
  if (e.reason !== 'exit') parts.push(e.reason.replace('_', ' '));
  return parts.join(' · ');
}

function WorkerRow({
  worker: w,
  spec,
  now,
  onAction,
  onLogs,
}: {
  worker: WorkerInfo;
  spec: WorkerSpec | null;
  now: number;
  onAction: (e: Entry, a: Action) => void;
  onLogs: (w: WorkerInfo) => void;
}) {
  const used = w.slots.total - w.slots.free;
  return (
    <tr data-worker-id={w.id} data-hive-id={w.hive} data-state={w.state}>
      <th scope="row" data-label="Worker">
        <div>
          <code>{w.id}</code>
          <span className="sub">pid {w.pid ?? '—'}</span>
        </div>
      </th>
      <td data-label="Model">
        <div>{w.model}</div>
      </td>
      <td data-label="Hive">
        <div>{w.hive}</div>
      </td>
      <td data-label="Spec">
        <SpecCell spec={spec} spare={w.hot_spare} />
      </td>
      <td data-label="State" data-testid="worker-state">
        <div>
          <WorkerStateBadge state={w.state} />
          {w.state === 'loading' ? (
            <span className="load">
              <progress max={1} value={w.load_progress} aria-label={`Load progress of ${w.id}`} />
              <span className="sub">{Math.round(w.load_progress * 100)} %</span>
            </span>
          ) : null}
          {(w.state === 'backoff' || w.state === 'crashed') && w.last_exit && w.last_exit.reason !== 'operator' ? (
            <span className="sub" data-testid="crash-note">
              crashed ({w.last_exit.signal ?? `exit ${w.last_exit.code ?? '?'}`}
              {w.last_exit.reason === 'exit' ? '' : `, ${w.last_exit.reason.replace('_', ' ')}`})
            </span>
          ) : null}
          {w.state === 'backoff' && w.next_restart_at !== null ? (
            <span className="countdown sub" data-testid="restart-countdown">
              restart in {formatCountdown(w.next_restart_at - now)}
            </span>
          ) : null}
        </div>
      </td>
      <td data-label="Health">
        <div>
          {w.state === 'unhealthy' ? (
            <span className="error-text">failing checks</span>
          ) : w.state === 'idle' || w.state === 'busy' ? (
            'passing'
          ) : (
            '—'
          )}
          {w.last_heartbeat !== null ? <span className="sub">last report {formatAgo(w.last_heartbeat, now)}</span> : null}
        </div>
      </td>
      <td data-label="Slots in use">
        <div>{['idle', 'busy', 'loading'].includes(w.state) ? `${used}/${w.slots.total}` : '—'}</div>
      </td>
      <td data-label="Restarts">
        <div data-testid="restart-count">{w.restart_count}</div>
        {w.restart_attempts > 0 ? (
          <span className="sub" data-testid="restart-attempts" title="Consecutive restarts; back to 0 once the worker has run for the stability window">
            {w.restart_attempts} in a row
          </span>
        ) : null}
      </td>
      <td data-label="Breaker" data-testid="breaker">
        <div>
          <BreakerBadge breaker={w.breaker} now={now} />
        </div>
      </td>
      <td data-label="Last exit">
        {w.last_exit ? (
          <details className="last-exit">
            <summary>
              {exitSummary(w)} <span className="sub">{formatAgo(w.last_exit.at, now)}</span>
            </summary>
            <dl className="kv">
              <dt>Exit code</dt>
              <dd>{w.last_exit.code ?? '—'}</dd>
              <dt>Signal</dt>
              <dd>{w.last_exit.signal ?? '—'}</dd>
              <dt>Reason</dt>
              <dd>{w.last_exit.reason}</dd>
              <dt>At</dt>
              <dd>{new Date(w.last_exit.at).toLocaleString()}</dd>
            </dl>
            <pre className="stderr" tabIndex={0} role="region" aria-label={`stderr tail of ${w.id}`}>
              {w.last_exit.stderr_tail || '(no stderr output)'}
            </pre>
          </details>
        ) : (
          <div>—</div>
        )}
      </td>
      <td data-label="Actions">
        <div className="actions">
          {availableActions(w).map((a) => (
            <button
              key={a}
              type="button"
              className={DESTRUCTIVE.has(a) ? 'small danger-outline' : 'small'}
              aria-label={`${ACTION_LABEL[a]} ${w.id}`}
              onClick={() => onAction({ hive: w.hive, id: w.id, worker: w, spec }, a)}
            >
              {ACTION_LABEL[a]}
            </button>
          ))}
          <button type="button" className="small" aria-label={`Logs of ${w.id}`} onClick={() => onLogs(w)}>
            Logs
          </button>
        </div>
      </td>
    </tr>
  );
}

function SpawnForm() {
  const hives = useRbee((s) => s.cluster.hives);
  const models = useRbee((s) => s.cluster.models);
  const hiveIds = Object.keys(hives).sort();
  const [hive, setHive] = useState('');
  const [model, setModel] = useState('');
  const [device, setDevice] = useState<Device>('auto');
  const [slots, setSlots] = useState('2');
  const [threads, setThreads] = useState('');
  const [gpuLayers, setGpuLayers] = useState('auto');
  const [batchSize, setBatchSize] = useState('');
  const [flash, setFlash] = useState<'default' | 'on' | 'off'>('default');
  const [kvCache, setKvCache] = useState<KvCacheType | ''>('');
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const hiveId = hive || hiveIds[0] || '';
  const hiveModels = models.filter((m) => m.hive === hiveId);
  const hiveGpus = (hives[hiveId]?.devices ?? []).filter((d) => d.type !== 'cpu');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const slotsN = Number(slots);
    const threadsN = threads.trim() === '' ? undefined : Number(threads);
    if (!hiveId || !model) return setStatus({ kind: 'error', text: 'Choose a hive and a model.' });
    if (!Number.isInteger(slotsN) || slotsN < 1 || slotsN > 64) return setStatus({ kind: 'error', text: 'Slots must be a whole number from 1 to 64.' });
    if (threadsN !== undefined && (!Number.isInteger(threadsN) || threadsN < 1 || threadsN > 256)) {
      return setStatus({ kind: 'error', text: 'Threads must be a whole number from 1 to 256, or empty for the hive default.' });
    }
    const layers = parseGpuLayers(gpuLayers.trim());
    if (layers === null) return setStatus({ kind: 'error', text: 'GPU layers must be auto, max or a whole number from 0 to 1024.' });
    const batchN = batchSize.trim() === '' ? undefined : Number(batchSize);
    if (batchN !== undefined && (!Number.isInteger(batchN) || batchN < 1 || batchN > 65_536)) {
      return setStatus({ kind: 'error', text: 'Batch size must be a whole number from 1 to 65536, or empty for the default.' });
    }
    setBusy(true);
    setStatus(null);
    try {
      const w = await getApi().spawnWorker({
        hive_id: hiveId,
        model,
        device,
        slots: slotsN,
        gpu_layers: layers,
        ...(threadsN !== undefined ? { threads: threadsN } : {}),
        ...(batchN !== undefined ? { batch_size: batchN } : {}),
        ...(flash !== 'default' ? { flash_attention: flash === 'on' } : {}),
        ...(kvCache !== '' ? { kv_cache_type: kvCache } : {}),
      });
      setStatus({ kind: 'ok', text: `Spawned worker ${w.id}; it appears in the table as it loads.` });
    } catch (error) {
      setStatus({ kind: 'error', text: `Spawn failed: ${errorMessage(error)}` });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form-grid" onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-h`} noValidate>
      <h2 id={`${id}-h`}>Spawn a worker</h2>
      <Field label="Hive" htmlFor={`${id}-hive`}>
        <select id={`${id}-hive`} value={hiveId} onChange={(e) => setHive(e.target.value)}>
          {hiveIds.length === 0 ? <option value="">No hives</option> : null}
          {hiveIds.map((h) => (
            <option key={h} value={h}>
              {h}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Model" htmlFor={`${id}-model`}>
        <select id={`${id}-model`} value={model} onChange={(e) => setModel(e.target.value)}>
          <option value="">Choose a model…</option>
          {hiveModels.map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
              {m.is_demo ? ' (demo)' : ''}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Device" htmlFor={`${id}-device`}>
        <select id={`${id}-device`} value={device} onChange={(e) => setDevice(e.target.value as Device)}>
          <option value="auto">auto</option>
          <option value="cpu">cpu</option>
          <option value="gpu">gpu (any)</option>
          {hiveGpus.map((d) => (
            <option key={d.id} value={d.id}>
              {d.id}: {d.name}
            </option>
          ))}
        </select>
      </Field>
      <Field label="GPU layers" htmlFor={`${id}-layers`} hint="auto (what fits), max, or a count; 0 = CPU only">
        <input id={`${id}-layers`} type="text" value={gpuLayers} onChange={(e) => setGpuLayers(e.target.value)} />
      </Field>
      <Field label="Slots" htmlFor={`${id}-slots`} hint="Parallel sequences">
        <input id={`${id}-slots`} type="number" min={1} max={64} value={slots} onChange={(e) => setSlots(e.target.value)} />
      </Field>
      <Field label="Threads" htmlFor={`${id}-threads`} hint="Empty: the hive's default">
        <input id={`${id}-threads`} type="number" min={1} max={256} value={threads} onChange={(e) => setThreads(e.target.value)} />
      </Field>
      <Field label="Batch size" htmlFor={`${id}-batch`} hint="Empty: min(512, context)">
        <input id={`${id}-batch`} type="number" min={1} max={65536} value={batchSize} onChange={(e) => setBatchSize(e.target.value)} />
      </Field>
      <Field label="Flash attention" htmlFor={`${id}-flash`}>
        <select id={`${id}-flash`} value={flash} onChange={(e) => setFlash(e.target.value as 'default' | 'on' | 'off')}>
          <option value="default">default (auto)</option>
          <option value="on">on</option>
          <option value="off">off</option>
        </select>
      </Field>
      <Field label="KV cache type" htmlFor={`${id}-kv`} hint="Quantized types need flash attention">
        <select id={`${id}-kv`} value={kvCache} onChange={(e) => setKvCache(e.target.value as KvCacheType | '')}>
          <option value="">default (f16)</option>
          {KV_CACHE_TYPES.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </Field>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Spawning…' : 'Spawn worker'}
        </button>
        {status ? (
          <p className={status.kind === 'ok' ? 'ok-text' : 'error-text'} role={status.kind === 'ok' ? 'status' : 'alert'}>
            {status.text}
          </p>
        ) : null}
      </div>
    </form>
  );
}

export function WorkersView() {
  const workersById = useRbee((s) => s.cluster.workers);
  const specsByKey = useRbee((s) => s.cluster.specs);
  const loaded = useRbee((s) => s.cluster.loaded);
  const offset = useRbee((s) => s.cluster.clockOffsetMs);
  const workers = useMemo(() => Object.values(workersById).sort((a, b) => a.hive.localeCompare(b.hive) || a.id.localeCompare(b.id)), [workersById]);
  const entries = useMemo(() => {
    const rows: Entry[] = workers.map((w) => ({ hive: w.hive, id: w.id, worker: w, spec: specsByKey[workerKey(w.hive, w.id)] ?? null }));
    for (const [key, spec] of Object.entries(specsByKey)) if (!workersById[key]) rows.push({ hive: spec.hive, id: spec.id, worker: null, spec });
    return rows.sort((a, b) => a.hive.localeCompare(b.hive) || a.id.localeCompare(b.id));
  }, [workers, workersById, specsByKey]);
  const needsClock = workers.some((w) => w.state === 'backoff' || w.breaker.state === 'open' || w.state === 'loading' || w.last_exit !== null || w.last_heartbeat !== null);
  const now = useNow(250, needsClock) + offset;
  const [pending, setPending] = useState<{ entry: Entry; action: Action } | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [logsOf, setLogsOf] = useState<{ hive: string; id: string } | null>(null);

  const perform = async (entry: Entry, action: Action) => {
    setPending(null);
    try {
      await runAction(entry, action);
      setMessage({ kind: 'ok', text: action === 'delete' ? `Deleted ${entry.id}.` : `${ACTION_LABEL[action]} sent to ${entry.id}.` });
    } catch (error) {
      setMessage({ kind: 'error', text: `${ACTION_LABEL[action]} ${entry.id} failed: ${errorMessage(error)}` });
    }
  };
  const onAction = (entry: Entry, action: Action): void => (DESTRUCTIVE.has(action) ? setPending({ entry, action }) : void perform(entry, action));

  return (
    <section aria-labelledby="workers-h">
      <h1 id="workers-h" tabIndex={-1}>
        Workers
      </h1>
      {message ? (
        <p className={`notice ${message.kind === 'ok' ? 'ok-text' : 'error-text'}`} role={message.kind === 'ok' ? 'status' : 'alert'}>
          {message.text}
        </p>
      ) : null}
      {!loaded ? (
        <LoadingState label="Loading workers…" />
      ) : entries.length === 0 ? (
        <EmptyState title="No workers yet">
          <p>Spawn one below from a model in a hive's catalog. No models? Add a GGUF file to the hive's models folder or download one on the Models page.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="workers responsive">
            <caption className="visually-hidden">Workers, their state, restarts and breakers</caption>
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col">Model</th>
                <th scope="col">Hive</th>
                <th scope="col">Spec</th>
                <th scope="col">State</th>
                <th scope="col">Health</th>
                <th scope="col">Slots in use</th>
                <th scope="col">Restarts</th>
                <th scope="col">Breaker</th>
                <th scope="col">Last exit</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) =>
                e.worker ? (
                  <WorkerRow
                    key={`${e.hive}/${e.id}`}
                    worker={e.worker}
                    spec={e.spec}
                    now={now}
                    onAction={onAction}
                    onLogs={(worker) => setLogsOf({ hive: worker.hive, id: worker.id })}
                  />
                ) : e.spec ? (
                  <SpecOnlyRow key={`${e.hive}/${e.id}`} spec={e.spec} onAction={onAction} />
                ) : null,
              )}
            </tbody>
          </table>
        </div>
      )}
      {logsOf ? <LogsPanel key={`${logsOf.hive}/${logsOf.id}`} hiveId={logsOf.hive} workerId={logsOf.id} onClose={() => setLogsOf(null)} /> : null}
      <SpawnForm />
      {pending ? (
        <ConfirmDialog
          title={`${ACTION_LABEL[pending.action]} worker ${pending.entry.id}?`}
          confirmLabel={`${ACTION_LABEL[pending.action]} worker`}
          onConfirm={() => void perform(pending.entry, pending.action)}
          onCancel={() => setPending(null)}
        >
          <p>
            {pending.action === 'stop'
              ? 'The worker stops serving; requests in flight on it are cancelled. It stays stopped until you start it.'
              : pending.action === 'delete'
                ? 'The worker is stopped and its entry and its spec are removed; it does not come back at the next start.'
                : 'The worker process is stopped and started again; requests in flight on it are cancelled.'}
          </p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
