import { useCallback, useEffect, useId, useState } from 'react';
import type { ApiKeyInfo, CreatedApiKey } from '../../../src-shared/control/apiKeys.js';
import { getApi } from '../../bridge/apiRegistry.js';
import { ConfirmDialog } from '../../components/ConfirmDialog.js';
import { CopyButton } from '../../components/CopyButton.js';
import { ErrorState, Field } from '../../components/states.js';
import { API_KEY_SCOPES, EMPTY_KEY_DRAFT, parseKeyDraft, type KeyDraft, type KeyDraftErrors } from '../../lib/keyDraft.js';
import { errorMessage } from '../../stores/errors.js';

function when(ms: number | null): string {
  return ms === null ? '—' : new Date(ms).toLocaleString();
}

function keyState(key: ApiKeyInfo): string {
  if (key.revoked_at !== null) return 'revoked';
  if (key.expires_at !== null && key.expires_at <= Date.now()) return 'expired';
  return 'active';
}

/** The secret of a key just created: shown once, with a copy button, until dismissed. */
function CreatedSecret({ created, onDone }: { created: CreatedApiKey; onDone: () => void }) {
  return (
    <div className="card" role="status" data-testid="created-key">
      <p>
        Key <strong>{created.name}</strong> ({created.fingerprint}) was created. Copy its secret now: <strong>it is shown only this once</strong>.
      </p>
      <code className="secret" data-testid="created-secret">
        {created.secret}
      </code>
      <div className="form-actions">
        <CopyButton text={created.secret} label="Copy key" />
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (key: CreatedApiKey) => void }) {
  const id = useId();
  const [draft, setDraft] = useState<KeyDraft>(EMPTY_KEY_DRAFT);
  const [errors, setErrors] = useState<KeyDraftErrors>({});
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const set = (field: keyof KeyDraft) => (e: { target: { value: string } }) => setDraft({ ...draft, [field]: e.target.value });
  return (
    <form
      noValidate
      aria-labelledby={`${id}-h`}
      onSubmit={(e) => {
        e.preventDefault();
        const parsed = parseKeyDraft(draft);
        if (!parsed.ok) {
          setErrors(parsed.errors);
          const first = Object.keys(parsed.errors)[0];
          if (first) document.getElementById(`${id}-${first}`)?.focus();
          return;
        }
        setErrors({});
        setBusy(true);
        setFailure(null);
        getApi()
          .createKey(parsed.value)
          .then(
            (created) => {
              setDraft(EMPTY_KEY_DRAFT);
              onCreated(created);
            },
            (error: unknown) => setFailure(errorMessage(error)),
          )
          .finally(() => setBusy(false));
      }}
    >
      <h3 id={`${id}-h`}>Create a key</h3>
      <div className="form-grid">
        <Field label="Name" htmlFor={`${id}-name`} error={errors.name}>
          <input id={`${id}-name`} value={draft.name} onChange={set('name')} aria-invalid={errors.name ? true : undefined} />
        </Field>
        <Field label="Scope" htmlFor={`${id}-scope`} hint="inference: the OpenAI routes; metrics: /metrics; admin: everything">
          <select id={`${id}-scope`} value={draft.scope} onChange={set('scope')}>
            {API_KEY_SCOPES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Models" htmlFor={`${id}-models`} hint="Comma-separated; empty = every model" error={errors.models}>
          <input id={`${id}-models`} value={draft.models} onChange={set('models')} aria-invalid={errors.models ? true : undefined} />
        </Field>
        <Field label="Requests per minute" htmlFor={`${id}-rpm`} hint="Empty = no limit" error={errors.rpm}>
          <input id={`${id}-rpm`} inputMode="numeric" value={draft.rpm} onChange={set('rpm')} aria-invalid={errors.rpm ? true : undefined} />
        </Field>
        <Field label="Concurrent requests" htmlFor={`${id}-maxConcurrent`} hint="Empty = no limit" error={errors.maxConcurrent}>
          <input id={`${id}-maxConcurrent`} inputMode="numeric" value={draft.maxConcurrent} onChange={set('maxConcurrent')} aria-invalid={errors.maxConcurrent ? true : undefined} />
        </Field>
        <Field label="Expires in" htmlFor={`${id}-expires`} hint="30d, 12h, 90m; empty = never" error={errors.expires}>
          <input id={`${id}-expires`} value={draft.expires} onChange={set('expires')} aria-invalid={errors.expires ? true : undefined} />
        </Field>
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
        {failure ? (
          <p className="error-text" role="alert">
            {failure}
          </p>
        ) : null}
      </div>
    </form>
  );
}

/** Scoped API keys: list with usage, create (secret shown once), revoke. */
export function ApiKeysCard() {
  const [keys, setKeys] = useState<ApiKeyInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKeyInfo | null>(null);
  const load = useCallback(() => {
    getApi()
      .listKeys()
      .then(
        (list) => {
          setKeys(list);
          setError(null);
        },
        (e: unknown) => setError(errorMessage(e)),
      );
  }, []);
  useEffect(load, [load]);
  return (
    <div className="card" data-testid="api-keys">
      <h2>API keys</h2>
      <p className="sub">Give each client its own key, limited to what it needs. Keys are stored as hashes; a secret is shown once, when it is created.</p>
      {created ? <CreatedSecret created={created} onDone={() => setCreated(null)} /> : null}
      {error ? (
        <ErrorState title="Could not load the API keys" message={error} onRetry={load} />
      ) : keys === null ? (
        <p className="sub">Loading keys…</p>
      ) : keys.length === 0 ? (
        <p className="sub">No keys yet.</p>
      ) : (
        <div className="table-wrap">
        <table>
          <caption className="visually-hidden">API keys and their usage</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Scope</th>
              <th scope="col">Models</th>
              <th scope="col">Limits</th>
              <th scope="col">Requests</th>
              <th scope="col">Tokens in / out</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <tr key={key.id} data-testid={`key-${key.id}`}>
                <td>{key.name}</td>
                <td>
                  <code>{key.fingerprint}</code>
                </td>
                <td>{key.scope}</td>
                <td>{key.models?.join(', ') ?? 'all'}</td>
                <td>
                  {key.rpm === null ? '' : `${key.rpm}/min `}
                  {key.max_concurrent === null ? '' : `${key.max_concurrent} at once`}
                  {key.rpm === null && key.max_concurrent === null ? 'none' : ''}
                </td>
                <td>
                  {key.usage.requests}
                  {key.usage.rate_limited > 0 ? ` (${key.usage.rate_limited} limited)` : ''}
                </td>
                <td>
                  {key.usage.tokens_in} / {key.usage.tokens_out}
                </td>
                <td>{when(key.usage.last_used_at)}</td>
                <td>{when(key.expires_at)}</td>
                <td>{keyState(key)}</td>
                <td>
                  {key.revoked_at === null ? (
                    <button type="button" className="danger" onClick={() => setRevoking(key)} aria-label={`Revoke ${key.name} (${key.fingerprint})`}>
                      Revoke
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
      <CreateKeyForm
        onCreated={(key) => {
          setCreated(key);
          load();
        }}
      />
      {revoking ? (
        <ConfirmDialog
          title={`Revoke ${revoking.name}?`}
          confirmLabel="Revoke key"
          onCancel={() => setRevoking(null)}
          onConfirm={() => {
            const target = revoking;
            setRevoking(null);
            getApi()
              .revokeKey(target.id)
              .then(load, (e: unknown) => setError(errorMessage(e)));
          }}
        >
          Clients using {revoking.fingerprint} are refused from now on. This cannot be undone.
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
