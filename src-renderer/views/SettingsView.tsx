import { useEffect, useId, useState } from 'react';
import type { Settings } from '../../src-shared/control/ControlApi.js';
import { bridgeKind, getApi } from '../bridge/apiRegistry.js';
import { CopyButton } from '../components/CopyButton.js';
import { errorMessage } from '../stores/errors.js';
import { ApiKeysCard } from './settings/ApiKeysCard.js';
import { ConnectClientCard } from './settings/ConnectClientCard.js';
import { ErrorState, Field, LoadingState } from '../components/states.js';
import { auditRetentionDraft, POLICY_FIELDS, policyDraft, validateAuditRetention, validatePolicy, type AuditRetentionDraft, type PolicyDraft } from '../stores/settingsSlice.js';
import { useRbee } from '../stores/store.js';
import { DesktopSettingsCard } from './DesktopSettingsCard.js';

type PolicyKey = keyof typeof POLICY_FIELDS;

function SettingsForm({ settings }: { settings: Settings }) {
  const id = useId();
  const [draft, setDraft] = useState<PolicyDraft>(() => policyDraft(settings.restart_policy));
  const [auditMode, setAuditMode] = useState(settings.audit_mode);
  const [retention, setRetention] = useState<AuditRetentionDraft>(() => auditRetentionDraft(settings));
  const [failClosed, setFailClosed] = useState(settings.audit_fail_closed);
  const [errors, setErrors] = useState<Partial<Record<PolicyKey, string>>>({});
  const [retentionErrors, setRetentionErrors] = useState<Partial<Record<keyof AuditRetentionDraft, string>>>({});
  const save = useRbee((s) => s.saveSettings);
  const saveState = useRbee((s) => s.settings.save);

  return (
    <form
      className="card"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        const result = validatePolicy(draft);
        const audit = validateAuditRetention(retention);
        setErrors(result.ok ? {} : result.errors);
        setRetentionErrors(audit.ok ? {} : audit.errors);
        if (!result.ok || !audit.ok) {
          const first = !result.ok ? Object.keys(result.errors)[0] : !audit.ok ? `audit-${Object.keys(audit.errors)[0]}` : undefined;
          if (first) document.getElementById(`${id}-${first}`)?.focus();
          return;
        }
        void save({ restart_policy: result.value, audit_mode: auditMode, ...audit.value, audit_fail_closed: failClosed });
      }}
    >
      <h2>Restart policy</h2>
      <p className="sub">Applies to every worker a hive supervises (DESIGN: backoff min(base · 2^(n−1), cap) ± jitter; breaker per worker).</p>
      <div className="form-grid">
        {(Object.keys(POLICY_FIELDS) as PolicyKey[]).map((key) => {
          const rule = POLICY_FIELDS[key];
          return (
            <Field key={key} label={`${rule.label} (${rule.unit})`} htmlFor={`${id}-${key}`} hint={rule.help} error={errors[key]}>
              <input
                id={`${id}-${key}`}
                name={key}
                inputMode="decimal"
                value={draft[key]}
                aria-invalid={errors[key] ? true : undefined}
                aria-describedby={`${id}-${key}-hint${errors[key] ? ` ${id}-${key}-error` : ''}`}
                onChange={(e) => setDraft({ ...draft, [key]: e.target.value })}
              />
            </Field>
          );
        })}
      </div>
      <h2>Audit log</h2>
      <Field label="Audit mode" htmlFor={`${id}-audit`} hint="Local: hash-chained JSON Lines files in the data folder.">
        <select id={`${id}-audit`} value={auditMode} onChange={(e) => setAuditMode(e.target.value === 'local' ? 'local' : 'disabled')}>
          <option value="local">local (recommended)</option>
          <option value="disabled">disabled</option>
        </select>
      </Field>
      <div className="form-grid">
        <Field label="Keep audit files (days)" htmlFor={`${id}-audit-days`} hint="Blank: kept forever. Older files are deleted after a retention record." error={retentionErrors.days}>
          <input
            id={`${id}-audit-days`}
            inputMode="numeric"
            value={retention.days}
            aria-invalid={retentionErrors.days ? true : undefined}
            aria-describedby={`${id}-audit-days-hint${retentionErrors.days ? ` ${id}-audit-days-error` : ''}`}
            onChange={(e) => setRetention({ ...retention, days: e.target.value })}
          />
        </Field>
        <Field label="Largest audit chain (MiB)" htmlFor={`${id}-audit-maxMiB`} hint="Blank: no size limit. The oldest files go first." error={retentionErrors.maxMiB}>
          <input
            id={`${id}-audit-maxMiB`}
            inputMode="numeric"
            value={retention.maxMiB}
            aria-invalid={retentionErrors.maxMiB ? true : undefined}
            aria-describedby={`${id}-audit-maxMiB-hint${retentionErrors.maxMiB ? ` ${id}-audit-maxMiB-error` : ''}`}
            onChange={(e) => setRetention({ ...retention, maxMiB: e.target.value })}
          />
        </Field>
      </div>
      <label className="check">
        <input type="checkbox" checked={failClosed} onChange={(e) => setFailClosed(e.target.checked)} /> Refuse inference while the audit log cannot write
        (fail closed: 503 AUDIT_UNAVAILABLE)
      </label>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={saveState.state === 'saving'}>
          {saveState.state === 'saving' ? 'Saving…' : 'Save settings'}
        </button>
        {saveState.message ? (
          <p className={saveState.state === 'error' ? 'error-text' : 'ok-text'} role={saveState.state === 'error' ? 'alert' : 'status'}>
            {saveState.message}
          </p>
        ) : null}
      </div>
    </form>
  );
}

function TokenCard({ settings }: { settings: Settings }) {
  const [secret, setSecret] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const reveal = (): Promise<string> => getApi().revealAdminToken();
  return (
    <div className="card">
      <h2>API token</h2>
      <dl className="kv">
        <dt>Admin token</dt>
        <dd>
          <code data-testid="token-fingerprint">{settings.api_token_fingerprint}</code>
        </dd>
        <dt>Queen port</dt>
        <dd>{settings.queen_port}</dd>
        <dt>Hive port</dt>
        <dd>{settings.hive_port}</dd>
        <dt>Models folder</dt>
        <dd>
          <code>{settings.models_dir}</code>
        </dd>
        {settings.tls_fingerprint ? (
          <>
            <dt>TLS certificate (SHA-256)</dt>
            <dd>
              <code className="fingerprint" data-testid="tls-fingerprint">
                {settings.tls_fingerprint}
              </code>
              <div className="sub">LAN clients pin this fingerprint: the certificate is rbee's own, no authority vouches for it.</div>
            </dd>
          </>
        ) : null}
      </dl>
      <p className="sub">The bootstrap token may do everything (admin scope). Give other clients their own scoped keys below.</p>
      <div className="form-actions">
        <button
          type="button"
          aria-expanded={secret !== null}
          aria-controls="token-secret"
          onClick={() => {
            if (secret !== null) return setSecret(null);
            reveal().then(
              (token) => {
                setSecret(token);
                setFailure(null);
              },
              (error: unknown) => setFailure(errorMessage(error)),
            );
          }}
        >
          {secret !== null ? 'Hide token' : 'Reveal token'}
        </button>
        <CopyButton text={reveal} label="Copy token" done="Token copied." />
        <code id="token-secret" className="secret" hidden={secret === null}>
          {secret ?? ''}
        </code>
        {failure ? (
          <p className="error-text" role="alert">
            {failure}
          </p>
        ) : null}
      </div>
    </div>
  );
}

/** The web dashboard's notices switch (kept in this browser); the desktop app has its own setting. */
function NoticesCard() {
  const enabled = useRbee((s) => s.noticesEnabled);
  const setEnabled = useRbee((s) => s.setNoticesEnabled);
  if (bridgeKind() === 'ipc') return null;
  return (
    <div className="card">
      <h2>Notices</h2>
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Show a notice when a breaker opens, a worker fails or a hive
        becomes unreachable
      </label>
      <p className="sub">One notice per burst of problems, at most one a minute. Kept in this browser.</p>
    </div>
  );
}

export function SettingsView() {
  const { value, status, error } = useRbee((s) => s.settings);
  const load = useRbee((s) => s.loadSettings);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section aria-labelledby="settings-h">
      <h1 id="settings-h" tabIndex={-1}>
        Settings
      </h1>
      {status === 'error' && !value ? (
        <ErrorState title="Could not load the settings" message={error ?? ''} onRetry={() => void load()} />
      ) : !value ? (
        <LoadingState label="Loading settings…" />
      ) : (
        <>
          <SettingsForm key={JSON.stringify([value.restart_policy, value.audit_mode, value.audit_retention_days, value.audit_max_bytes, value.audit_fail_closed])} settings={value} />
          <TokenCard settings={value} />
          <ConnectClientCard settings={value} />
          <ApiKeysCard />
          <NoticesCard />
          <DesktopSettingsCard />
        </>
      )}
    </section>
  );
}
