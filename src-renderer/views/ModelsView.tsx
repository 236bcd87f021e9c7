import { useId, useMemo, useState, type FormEvent } from 'react';
import { getApi } from '../bridge/apiRegistry.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { EmptyState, Field, LoadingState } from '../components/states.js';
import { formatBytes } from '../lib/format.js';
import { errorMessage } from '../stores/errors.js';
import { useRbee } from '../stores/store.js';
import { UploadModelForm } from './UploadModelForm.js';

/** `hf:<user>/<repo>:<TAG>`, `hf:<user>/<repo>/<file>` or an http(s) URL (the hive checks the details). */
export function validateModelSource(source: string): string | null {
  const s = source.trim();
  if (!s) return 'Enter an hf: URI or an http(s) URL.';
  if (s.startsWith('hf:')) return /^hf:[^/\s]+\/[^/\s]+(\/[^\s]+)?$/.test(s) ? null : 'hf: URIs look like hf:<user>/<repo>:Q4_K_M or hf:<user>/<repo>/<file>.gguf';
  try {
    const url = new URL(s);
    return url.protocol === 'http:' || url.protocol === 'https:' ? null : 'Only http(s) URLs and hf: URIs are supported.';
  } catch {
    return 'Not a valid URL or hf: URI.';
  }
}

function DownloadForm({ hiveIds }: { hiveIds: string[] }) {
  const id = useId();
  const [hive, setHive] = useState('');
  const [source, setSource] = useState('');
  const [name, setName] = useState('');
  const [fieldError, setFieldError] = useState<string | undefined>(undefined);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const hiveId = hive || hiveIds[0] || '';
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problem = validateModelSource(source);
    setFieldError(problem ?? undefined);
    if (problem || !hiveId) return;
    setBusy(true);
    setStatus(null);
    try {
      const r = await getApi().downloadModel({ hive_id: hiveId, source: source.trim(), ...(name.trim() ? { name: name.trim() } : {}) });
      setStatus({ kind: 'ok', text: `Download ${r.download_id} started; progress appears below.` });
    } catch (error) {
      setStatus({ kind: 'error', text: `Download could not start: ${errorMessage(error)}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card form-grid" onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-h`} noValidate>
      <h2 id={`${id}-h`}>Download a model</h2>
      <Field label="Hive" htmlFor={`${id}-hive`}>
        <select id={`${id}-hive`} value={hiveId} onChange={(e) => setHive(e.target.value)}>
          {hiveIds.map((h) => (
            <option key={h} value={h}>
              {h}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Source" htmlFor={`${id}-src`} hint="hf:user/repo:Q4_K_M (by quantization), hf:user/repo/file.gguf or https://…; a split model's shards come together" error={fieldError}>
        <input id={`${id}-src`} value={source} onChange={(e) => setSource(e.target.value)} placeholder="hf:user/repo:Q4_K_M" autoComplete="off" aria-invalid={fieldError ? true : undefined} />
      </Field>
      <Field label="File name" htmlFor={`${id}-name`} hint="Optional">
        <input id={`${id}-name`} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
      </Field>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy || !hiveId}>
          {busy ? 'Starting…' : 'Download'}
        </button>
        {status ? (
          <p className={status.kind === 'ok' ? 'ok-text' : 'error-text'} role={status.kind === 'ok' ? 'status' : 'alert'} data-testid="download-status">
            {status.text}
          </p>
        ) : null}
      </div>
    </form>
  );
}

export function ModelsView() {
  const models = useRbee((s) => s.cluster.models);
  const hives = useRbee((s) => s.cluster.hives);
  const downloads = useRbee((s) => s.cluster.downloads);
  const loaded = useRbee((s) => s.cluster.loaded);
  const workers = useRbee((s) => s.cluster.workers);
  /** `hive/model` → ids of the workers serving it (a model in use cannot be deleted from its hive). */
  const usedBy = useMemo(() => {
    const map = new Map<string, string[]>();
    for (const w of Object.values(workers)) map.set(`${w.hive}/${w.model}`, [...(map.get(`${w.hive}/${w.model}`) ?? []), w.id].sort());
    return map;
  }, [workers]);
  const hiveIds = useMemo(() => [...new Set([...Object.keys(hives), ...models.map((m) => m.hive)])].sort(), [hives, models]);
  const downloadList = Object.values(downloads);
  const [deleting, setDeleting] = useState<{ hive: string; name: string; parts?: number } | null>(null);
  const [deleteStatus, setDeleteStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const confirmDelete = async (target: { hive: string; name: string }): Promise<void> => {
    setDeleting(null);
    try {
      await getApi().deleteModel(target.hive, target.name);
      setDeleteStatus({ kind: 'ok', text: `Deleted ${target.name} from hive ${target.hive}.` });
    } catch (error) {
      setDeleteStatus({ kind: 'error', text: `${target.name} was not deleted: ${errorMessage(error)}` });
    }
  };

  return (
    <section aria-labelledby="models-h">
      <h1 id="models-h" tabIndex={-1}>
        Models
      </h1>
      {!loaded ? (
        <LoadingState label="Loading model catalogs…" />
      ) : hiveIds.length === 0 ? (
        <EmptyState title="No hives, so no catalogs" />
      ) : (
        hiveIds.map((h) => {
          const list = models.filter((m) => m.hive === h);
          return (
            <div className="card" key={h}>
              <h2>Hive {h}</h2>
              {list.length === 0 ? (
                <EmptyState title="No models in this hive's catalog">
                  <p>Copy GGUF files into the hive's models folder, or download one below.</p>
                </EmptyState>
              ) : (
                <div className="table-wrap">
                  <table className="responsive">
                    <caption className="visually-hidden">Models on hive {h}</caption>
                    <thead>
                      <tr>
                        <th scope="col">Name</th>
                        <th scope="col">Size</th>
                        <th scope="col">Architecture</th>
                        <th scope="col">Quantization</th>
                        <th scope="col">Context</th>
                        <th scope="col">Used by</th>
                        <th scope="col">Actions</th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.map((m) => (
                        <tr key={m.name} data-model={m.name}>
                          <th scope="row" data-label="Name">
                            {m.name}{' '}
                            {m.parts ? (
                              <span className="sub" title="A split GGUF: one model in several shard files, named by the first" data-testid="model-parts">
                                ({m.parts} files)
                              </span>
                            ) : null}{' '}
                            {m.is_demo ? (
                              <span className="badge tone-info" title="Generated demo model with random weights: its output is gibberish">
                                demo · random weights
                              </span>
                            ) : null}
                          </th>
                          <td data-label="Size">{formatBytes(m.size_bytes)}</td>
                          <td data-label="Architecture">{m.architecture ?? '—'}</td>
                          <td data-label="Quantization">{m.quantization ?? '—'}</td>
                          <td data-label="Context">{m.context_length ?? '—'}</td>
                          <td data-label="Used by" data-testid="model-used-by">
                            {(usedBy.get(`${m.hive}/${m.name}`) ?? []).length === 0 ? (
                              <span className="sub">no worker</span>
                            ) : (
                              (usedBy.get(`${m.hive}/${m.name}`) ?? []).map((id, i) => (
                                <span key={id}>
                                  {i > 0 ? ', ' : ''}
                                  <code>{id}</code>
                                </span>
                              ))
                            )}
                          </td>
                          <td data-label="Actions">
                            {(usedBy.get(`${m.hive}/${m.name}`) ?? []).length === 0 ? (
                              <button type="button" className="small danger-outline" onClick={() => setDeleting({ hive: m.hive, name: m.name, ...(m.parts ? { parts: m.parts } : {}) })} aria-label={`Delete ${m.name} from hive ${m.hive}`}>
                                Delete
                              </button>
                            ) : (
                              <span className="sub">in use</span>
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </div>
          );
        })
      )}
      {deleteStatus ? (
        <p className={deleteStatus.kind === 'ok' ? 'ok-text' : 'error-text'} role={deleteStatus.kind === 'ok' ? 'status' : 'alert'} data-testid="model-delete-status">
          {deleteStatus.text}
        </p>
      ) : null}
      {deleting ? (
        <ConfirmDialog title={`Delete ${deleting.name}?`} confirmLabel={deleting.parts ? `Delete the ${deleting.parts} files` : 'Delete the file'} onConfirm={() => void confirmDelete(deleting)} onCancel={() => setDeleting(null)}>
          <p>
            {deleting.parts ? `All ${deleting.parts} shard files of this split model are` : 'The file is'} removed from hive {deleting.hive}'s models folder. A worker spec that names it, or a worker that uses it, keeps it (the
            hive refuses).
          </p>
        </ConfirmDialog>
      ) : null}
      <DownloadForm hiveIds={hiveIds} />
      <UploadModelForm
        localModels={models.filter((m) => hives[m.hive]?.kind === 'local').map((m) => m.name)}
        remoteHives={Object.values(hives).filter((h) => h.kind === 'remote' && h.state === 'online').map((h) => h.id).sort()}
      />
      {downloadList.length > 0 ? (
        <div className="card">
          <h2>Downloads and copies</h2>
          <ul className="downloads">
            {downloadList.map((d) => (
              <li key={d.download_id} data-state={d.state}>
                <span>
                  <code>{d.source}</code> on {d.hive_id}: <strong>{d.state}</strong>
                </span>
                {d.state === 'running' ? (
                  d.total_bytes ? (
                    <progress max={d.total_bytes} value={d.received_bytes} aria-label={`Transfer of ${d.source}`} />
                  ) : (
                    <progress aria-label={`Transfer of ${d.source}`} />
                  )
                ) : null}
                <span className="sub">
                  {formatBytes(d.received_bytes)}
                  {d.total_bytes ? ` of ${formatBytes(d.total_bytes)}` : ''}
                  {d.files ? ` · ${d.files.done} of ${d.files.total} files` : ''}
                </span>
                {d.message ? (
                  <span className={d.state === 'failed' ? 'error-text' : 'sub'} role={d.state === 'failed' ? 'alert' : undefined}>
                    {d.message}
                  </span>
                ) : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}
