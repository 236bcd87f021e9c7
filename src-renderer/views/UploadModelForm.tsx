import { useId, useState, type FormEvent } from 'react';
import { getApi } from '../bridge/apiRegistry.js';
import { Field } from '../components/states.js';
import { errorMessage } from '../stores/errors.js';

export interface UploadModelFormProps {
  /** Models of this machine's own (local) hive: the files an upload can send. */
  localModels: string[];
  /** Remote hives that are online now: where an upload can go. */
  remoteHives: string[];
}

/**
 * "Copy a model to a remote hive": sends a file of this machine's models folder to a remote hive by
 * SFTP. The transfer shows in the downloads list below (source `upload:<model>`) until the remote
 * hive lists the model. Hidden while there is nothing to copy or nowhere to copy it.
 */
export function UploadModelForm({ localModels, remoteHives }: UploadModelFormProps) {
  const id = useId();
  const [model, setModel] = useState('');
  const [hive, setHive] = useState('');
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  if (localModels.length === 0 || remoteHives.length === 0) return null;
  const modelName = localModels.includes(model) ? model : localModels[0]!;
  const hiveId = remoteHives.includes(hive) ? hive : remoteHives[0]!;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setStatus(null);
    try {
      const started = await getApi().uploadModel({ hive_id: hiveId, model: modelName });
      setStatus({ kind: 'ok', text: `Copying ${modelName} to hive ${hiveId} (upload ${started.upload_id}); progress appears below.` });
    } catch (error) {
      setStatus({ kind: 'error', text: `The copy could not start: ${errorMessage(error)}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card form-grid" onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-h`} noValidate>
      <h2 id={`${id}-h`}>Copy a model to a remote hive</h2>
      <Field label="Model on this machine" htmlFor={`${id}-model`}>
        <select id={`${id}-model`} value={modelName} onChange={(e) => setModel(e.target.value)}>
          {localModels.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Remote hive" htmlFor={`${id}-hive`}>
        <select id={`${id}-hive`} value={hiveId} onChange={(e) => setHive(e.target.value)}>
          {remoteHives.map((h) => (
            <option key={h} value={h}>
              {h}
            </option>
          ))}
        </select>
      </Field>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Starting…' : 'Copy over SSH'}
        </button>
        {status ? (
          <p className={status.kind === 'ok' ? 'ok-text' : 'error-text'} role={status.kind === 'ok' ? 'status' : 'alert'} data-testid="upload-status">
            {status.text}
          </p>
        ) : null}
      </div>
    </form>
  );
}
