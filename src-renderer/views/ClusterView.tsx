import { useId, useMemo, useState, type FormEvent } from 'react';
import type { HiveInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { AddHiveResult, PreflightReport } from '../../src-shared/control/ControlApi.js';
import { getApi } from '../bridge/apiRegistry.js';
import { HiveStateBadge } from '../components/badges.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { GpuMemoryBar } from '../components/GpuMemoryBar.js';
import { EmptyState, Field, LoadingState } from '../components/states.js';
import { useNow } from '../components/useNow.js';
import { formatAgo, formatBytes } from '../lib/format.js';
import { errorMessage } from '../stores/errors.js';
import { useRbee } from '../stores/store.js';

function HiveCard({
  hive,
  workers,
  readyCount,
  now,
  onRemove,
}: {
  hive: HiveInfo;
  workers: readonly WorkerInfo[];
  readyCount: number;
  now: number;
  onRemove: (h: HiveInfo) => void;
}) {
  const workerCount = workers.length;
  const headingId = useId();
  const shutdown = useRbee((s) => s.cluster.shutdown[hive.id]);
  return (
    <article className="card hive-card" aria-labelledby={headingId} data-hive-id={hive.id} data-state={hive.state}>
      <header className="card-head">
        <h2 id={headingId}>{hive.id}</h2>
        <span className="badge tone-muted">{hive.kind}</span>
        <HiveStateBadge state={hive.state} />
      </header>
      {hive.message ? <p className={hive.state === 'online' ? 'sub' : 'error-text'}>{hive.message}</p> : null}
      {shutdown && shutdown.phase !== 'done' ? (
        <p className="banner banner-warn" role="status">
          Shutting down ({shutdown.phase === 'polite' ? 'asking workers to stop' : shutdown.phase}): {shutdown.remaining_workers} worker
          {shutdown.remaining_workers === 1 ? '' : 's'} left
        </p>
      ) : null}
      <dl className="kv">
        <dt>Address</dt>
        <dd>
          <code>{hive.address}</code>
        </dd>
        <dt>System</dt>
        <dd>{[hive.os, hive.arch].filter(Boolean).join(' / ') || 'unknown'}</dd>
        <dt>Node</dt>
        <dd>{hive.node_version ?? '—'}</dd>
        <dt>Workers</dt>
        <dd data-testid="hive-workers">
          {readyCount} ready of {workerCount}
        </dd>
        <dt>Hive restarts</dt>
        <dd>{hive.restart_count}</dd>
        <dt>Last seen</dt>
        <dd>{formatAgo(hive.last_seen, now)}</dd>
      </dl>
      <h3 className="small-h">Devices</h3>
      {hive.devices.length === 0 ? (
        <p className="sub">No devices reported.</p>
      ) : (
        <ul className="devices">
          {hive.devices.map((d) => {
            const used = Math.max(0, d.memory_total - d.memory_free);
            return (
              <li key={d.id}>
                <span>
                  <strong>{d.name}</strong> <span className="sub">({d.type})</span>
                </span>
                {d.type === 'cpu' ? (
                  <meter min={0} max={d.memory_total || 1} value={used} aria-label={`RAM used on ${d.name}`} />
                ) : (
                  <GpuMemoryBar device={d} workers={workers} />
                )}
                <span className="sub">
                  {formatBytes(used)} of {formatBytes(d.memory_total)} {d.type === 'cpu' ? 'RAM' : 'VRAM'} used
                </span>
              </li>
            );
          })}
        </ul>
      )}
      {hive.kind === 'remote' ? (
        <div className="card-actions">
          <button type="button" className="small danger-outline" onClick={() => onRemove(hive)} aria-label={`Remove hive ${hive.id}`}>
            Remove
          </button>
        </div>
      ) : null}
    </article>
  );
}

function Preflight({ report }: { report: PreflightReport }) {
  return (
    <div className="preflight">
      <h3 className="small-h">Preflight</h3>
      <dl className="kv">
        <dt>System</dt>
        <dd>
          {report.os} / {report.arch}
        </dd>
        <dt>Node</dt>
        <dd>
          {report.node_version ?? 'not found'} {report.node_ok ? '✓ ok' : '✗ too old or missing'}
        </dd>
        <dt>Free disk</dt>
        <dd>{formatBytes(report.free_disk_bytes)}</dd>
        <dt>GPUs</dt>
        <dd>{report.gpus.length === 0 ? 'none found (CPU only)' : report.gpus.map((g) => `${g.name} (${g.memory_total_mb} MB)`).join(', ')}</dd>
        <dt>Installed hive</dt>
        <dd>{report.installed_version ?? 'none (deployed now)'}</dd>
      </dl>
      {report.problems.length > 0 ? (
        <ul className="problems" aria-label="Preflight problems">
          {report.problems.map((p) => (
            <li key={p} className="error-text">
              {p}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function AddHiveForm() {
  const id = useId();
  const [host, setHost] = useState('');
  const [port, setPort] = useState('');
  const [user, setUser] = useState('');
  const [keyFile, setKeyFile] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<AddHiveResult | null>(null);

  const send = async (trust?: string) => {
    const portN = port.trim() === '' ? undefined : Number(port);
    if (!host.trim()) return setError('Enter a host name, IP or ~/.ssh/config alias.');
    if (portN !== undefined && (!Number.isInteger(portN) || portN < 1 || portN > 65535)) return setError('Port must be 1–65535.');
    setBusy(true);
    setError(null);
    try {
      const r = await getApi().addHive({
        host: host.trim(),
        ...(portN !== undefined ? { port: portN } : {}),
        ...(user.trim() ? { user: user.trim() } : {}),
        ...(keyFile.trim() ? { key_file: keyFile.trim() } : {}),
        ...(name.trim() ? { name: name.trim() } : {}),
        ...(trust ? { trust_fingerprint: trust } : {}),
      });
      setResult(r);
    } catch (e) {
      setError(`Adding the hive failed: ${errorMessage(e)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <details className="card add-hive">
      <summary>
        <h2 className="inline-h">Add a remote hive (SSH)</h2>
      </summary>
      <form
        className="form-grid"
        noValidate
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          setResult(null);
          void send();
        }}
      >
        <Field label="Host or SSH alias" htmlFor={`${id}-host`}>
          <input id={`${id}-host`} value={host} onChange={(e) => setHost(e.target.value)} autoComplete="off" required />
        </Field>
        <Field label="Port" htmlFor={`${id}-port`} hint="Default 22">
          <input id={`${id}-port`} type="number" min={1} max={65535} value={port} onChange={(e) => setPort(e.target.value)} />
        </Field>
        <Field label="User" htmlFor={`${id}-user`}>
          <input id={`${id}-user`} value={user} onChange={(e) => setUser(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="Private key file" htmlFor={`${id}-key`} hint="Empty: use the ssh-agent">
          <input id={`${id}-key`} value={keyFile} onChange={(e) => setKeyFile(e.target.value)} autoComplete="off" />
        </Field>
        <Field label="Display name" htmlFor={`${id}-name`}>
          <input id={`${id}-name`} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </Field>
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Connecting…' : 'Connect and check'}
          </button>
        </div>
      </form>
      {error ? (
        <p className="error-text" role="alert">
          {error}
        </p>
      ) : null}
      {result?.status === 'needs_trust' ? (
        <div className="trust" role="group" aria-label="Unknown host key">
          <p>
            <strong>{result.host}</strong> presented an unknown {result.key_type} host key:
          </p>
          <p>
            <code className="fingerprint" data-testid="host-fingerprint">
              {result.fingerprint}
            </code>
          </p>
          <p className="sub">Trust it only if it matches the fingerprint the server shows (ssh-keygen -lf on the host key). A changed key is always refused.</p>
          <div className="form-actions">
            <button type="button" className="primary" disabled={busy} onClick={() => void send(result.fingerprint)}>
              Trust this key and add
            </button>
            <button type="button" onClick={() => setResult(null)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      {result?.status === 'added' ? (
        <div role="status">
          <p className="ok-text">Hive {result.hive.id} added.</p>
          <Preflight report={result.preflight} />
        </div>
      ) : null}
    </details>
  );
}

export function ClusterView() {
  const hives = useRbee((s) => s.cluster.hives);
  const workers = useRbee((s) => s.cluster.workers);
  const loaded = useRbee((s) => s.cluster.loaded);
  const now = useNow(5000);
  const [removing, setRemoving] = useState<HiveInfo | null>(null);
  const [stopToo, setStopToo] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const stats = useMemo(() => {
    const list = Object.values(workers);
    return {
      workers: list.length,
      ready: list.filter((w) => w.state === 'idle' || w.state === 'busy').length,
      troubled: list.filter((w) => ['crashed', 'backoff', 'failed', 'unhealthy'].includes(w.state)).length,
      openBreakers: list.filter((w) => w.breaker.state !== 'closed').length,
    };
  }, [workers]);
  const hiveList = Object.values(hives).sort((a, b) => (a.kind === b.kind ? a.id.localeCompare(b.id) : a.kind === 'local' ? -1 : 1));

  return (
    <section aria-labelledby="cluster-h">
      <h1 id="cluster-h" tabIndex={-1}>
        Cluster
      </h1>
      {loaded ? (
        <ul className="stats" aria-label="Cluster summary">
          <li>
            <span className="stat-n" data-testid="stat-hives">{hiveList.length}</span> hives
          </li>
          <li>
            <span className="stat-n" data-testid="stat-ready">{stats.ready}</span> of {stats.workers} workers ready
          </li>
          <li>
            <span className="stat-n">{stats.troubled}</span> in trouble
          </li>
          <li>
            <span className="stat-n">{stats.openBreakers}</span> breakers not closed
          </li>
        </ul>
      ) : null}
      {message ? (
        <p className="notice" role="status">
          {message}
        </p>
      ) : null}
      {!loaded ? (
        <LoadingState label="Loading the cluster…" />
      ) : hiveList.length === 0 ? (
        <EmptyState title="No hives">
          <p>The local hive starts with the queen. Add a remote machine below: it needs SSH access and Node 20 or newer.</p>
        </EmptyState>
      ) : (
        <div className="cards">
          {hiveList.map((h) => {
            const ws = Object.values(workers).filter((w) => w.hive === h.id);
            return (
              <HiveCard
                key={h.id}
                hive={h}
                workers={ws}
                readyCount={ws.filter((w) => w.state === 'idle' || w.state === 'busy').length}
                now={now}
                onRemove={(hive) => {
                  setStopToo(false);
                  setRemoving(hive);
                }}
              />
            );
          })}
        </div>
      )}
      <AddHiveForm />
      {removing ? (
        <ConfirmDialog
          title={`Remove hive ${removing.id}?`}
          confirmLabel="Remove hive"
          onCancel={() => setRemoving(null)}
          onConfirm={() => {
            const hive = removing;
            setRemoving(null);
            getApi()
              .removeHive(hive.id, { stop: stopToo })
              .then(
                () => setMessage(`Hive ${hive.id} removed${stopToo ? ' and stopped' : ''}.`),
                (e: unknown) => setMessage(`Removing ${hive.id} failed: ${errorMessage(e)}`),
              );
          }}
        >
          <p>The queen forgets this hive. Its workers keep running on the remote machine unless you stop them too.</p>
          <label className="check">
            <input type="checkbox" checked={stopToo} onChange={(e) => setStopToo(e.target.checked)} /> Also stop the hive and its workers
          </label>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
