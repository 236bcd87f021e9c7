import { useEffect, useId, useState, type FormEvent } from 'react';
import { DesktopPreferencesSchema, lanSettingsProblem, RESTART_PREFERENCES, type DesktopPreferences, type DesktopPreferencesPatch } from '../../src-shared/desktop/desktopPreferences.js';
import { getApi } from '../bridge/apiRegistry.js';
import { Field } from '../components/states.js';
import { errorMessage } from '../stores/errors.js';

interface Draft {
  queen_port: string;
  hive_port: string;
  models_dir: string;
  quick_shortcut: string;
  close_to_tray: boolean;
  warm_standby: string;
  notifications: boolean;
  lan_exposure: boolean;
  lan_tls: boolean;
  lan_plain_http_confirmed: boolean;
}

const draftOf = (p: DesktopPreferences): Draft => ({
  queen_port: String(p.queen_port),
  hive_port: String(p.hive_port),
  models_dir: p.models_dir ?? '',
  quick_shortcut: p.quick_shortcut,
  close_to_tray: p.close_to_tray,
  warm_standby: String(p.warm_standby),
  notifications: p.notifications,
  lan_exposure: p.lan_exposure,
  lan_tls: p.lan_tls,
  lan_plain_http_confirmed: p.lan_plain_http_confirmed,
});

const toNumber = (text: string): number => (text.trim() === '' ? Number.NaN : Number(text));

/** Parses the form with the store's own schema: the same rules, the same messages. Pure. */
export function parseDesktopDraft(draft: Draft): { ok: true; value: DesktopPreferences } | { ok: false; errors: Partial<Record<keyof Draft, string>> } {
  const result = DesktopPreferencesSchema.safeParse({
    queen_port: toNumber(draft.queen_port),
    hive_port: toNumber(draft.hive_port),
    models_dir: draft.models_dir.trim() === '' ? null : draft.models_dir.trim(),
    quick_shortcut: draft.quick_shortcut.trim(),
    close_to_tray: draft.close_to_tray,
    warm_standby: toNumber(draft.warm_standby),
    notifications: draft.notifications,
    lan_exposure: draft.lan_exposure,
    lan_tls: draft.lan_tls,
    lan_plain_http_confirmed: draft.lan_plain_http_confirmed,
  });
  const lanProblem = result.success ? lanSettingsProblem(result.data) : null;
  if (result.success && lanProblem === null) return { ok: true, value: result.data };
  const errors: Partial<Record<keyof Draft, string>> = {};
  if (lanProblem) errors.lan_plain_http_confirmed = lanProblem;
  if (result.success) return { ok: false, errors };
  for (const issue of result.error.issues) {
    const key = issue.path[0] as keyof Draft;
    errors[key] ??= issue.message;
  }
  return { ok: false, errors };
}

/** The fields that changed, as one patch. Pure. */
export function desktopPatch(before: DesktopPreferences, after: DesktopPreferences): DesktopPreferencesPatch {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(after) as Array<keyof DesktopPreferences>) if (after[key] !== before[key]) patch[key] = after[key];
  return patch as DesktopPreferencesPatch;
}

/**
 * Settings only the desktop app has (window, global shortcut, ports, models folder, warm standby,
 * notifications). Shown when the bridge offers them (Electron IPC); validated with the store's schema
 * before saving, and again by main.
 */
export function DesktopSettingsCard() {
  const id = useId();
  const api = getApi();
  const available = typeof api.getDesktopPreferences === 'function' && typeof api.updateDesktopPreferences === 'function';
  const [saved, setSaved] = useState<DesktopPreferences | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [errors, setErrors] = useState<Partial<Record<keyof Draft, string>>>({});
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  useEffect(() => {
    if (!available) return;
    api.getDesktopPreferences!().then(
      (p) => {
        setSaved(p);
        setDraft(draftOf(p));
      },
      (error: unknown) => setStatus({ kind: 'error', text: `Could not load the desktop settings: ${errorMessage(error)}` }),
    );
  }, [api, available]);

  if (!available) return null;
  if (!draft || !saved) {
    return status ? (
      <p className="error-text" role="alert">
        {status.text}
      </p>
    ) : null;
  }

  const set = (patch: Partial<Draft>): void => setDraft({ ...draft, ...patch });
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const parsed = parseDesktopDraft(draft);
    if (!parsed.ok) {
      setErrors(parsed.errors);
      setStatus(null);
      const first = Object.keys(parsed.errors)[0];
      if (first) document.getElementById(`${id}-${first}`)?.focus();
      return;
    }
    setErrors({});
    const patch = desktopPatch(saved, parsed.value);
    if (Object.keys(patch).length === 0) {
      setStatus({ kind: 'ok', text: 'Nothing changed.' });
      return;
    }
    try {
      const next = await api.updateDesktopPreferences!(patch);
      setSaved(next);
      setDraft(draftOf(next));
      const later = Object.keys(patch).some((k) => RESTART_PREFERENCES.includes(k as keyof DesktopPreferences));
      setStatus({ kind: 'ok', text: later ? 'Saved. Ports, models folder, shortcut, warm standby and LAN exposure apply when rbee starts again.' : 'Saved.' });
    } catch (error) {
      setStatus({ kind: 'error', text: `Saving failed: ${errorMessage(error)}` });
    }
  };
  const described = (key: keyof Draft, hint: boolean) => [hint ? `${id}-${key}-hint` : '', errors[key] ? `${id}-${key}-error` : ''].filter(Boolean).join(' ') || undefined;

  return (
    <form className="card form-grid" noValidate onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`} className="wide">
        Desktop app
      </h2>
      <Field label="Queen port" htmlFor={`${id}-queen_port`} hint="0: any free port" error={errors.queen_port}>
        <input id={`${id}-queen_port`} inputMode="numeric" value={draft.queen_port} onChange={(e) => set({ queen_port: e.target.value })} aria-invalid={!!errors.queen_port} aria-describedby={described('queen_port', true)} />
      </Field>
      <Field label="Local hive port" htmlFor={`${id}-hive_port`} hint="0: any free port" error={errors.hive_port}>
        <input id={`${id}-hive_port`} inputMode="numeric" value={draft.hive_port} onChange={(e) => set({ hive_port: e.target.value })} aria-invalid={!!errors.hive_port} aria-describedby={described('hive_port', true)} />
      </Field>
      <Field label="Warm standby workers" htmlFor={`${id}-warm_standby`} hint="Pre-started processes for fast restarts, 0–8" error={errors.warm_standby}>
        <input id={`${id}-warm_standby`} inputMode="numeric" value={draft.warm_standby} onChange={(e) => set({ warm_standby: e.target.value })} aria-invalid={!!errors.warm_standby} aria-describedby={described('warm_standby', true)} />
      </Field>
      <Field label="Quick inference shortcut" htmlFor={`${id}-quick_shortcut`} hint="e.g. CommandOrControl+Shift+Space; empty: none" error={errors.quick_shortcut}>
        <input id={`${id}-quick_shortcut`} value={draft.quick_shortcut} onChange={(e) => set({ quick_shortcut: e.target.value })} aria-invalid={!!errors.quick_shortcut} aria-describedby={described('quick_shortcut', true)} />
      </Field>
      <div className="wide">
        <Field label="Models folder" htmlFor={`${id}-models_dir`} hint="Empty: the data folder's models" error={errors.models_dir}>
          <input id={`${id}-models_dir`} value={draft.models_dir} onChange={(e) => set({ models_dir: e.target.value })} aria-invalid={!!errors.models_dir} aria-describedby={described('models_dir', true)} />
        </Field>
      </div>
      <label className="check wide">
        <input type="checkbox" checked={draft.close_to_tray} onChange={(e) => set({ close_to_tray: e.target.checked })} /> Closing the window keeps rbee running in the tray
      </label>
      <label className="check wide">
        <input type="checkbox" checked={draft.notifications} onChange={(e) => set({ notifications: e.target.checked })} /> Desktop notifications when a breaker opens, a worker fails or a hive
        becomes unreachable
      </label>
      <fieldset className="wide lan">
        <legend>LAN exposure</legend>
        <label className="check">
          <input type="checkbox" checked={draft.lan_exposure} onChange={(e) => set({ lan_exposure: e.target.checked })} /> Let other machines on the network reach the API
          (binds every interface; clients need a key)
        </label>
        {draft.lan_exposure ? (
          <>
            <p className="warning-text" role="note">
              Anyone on this network can then try to reach rbee. Keys are still required, Host checks still apply, and every refusal is audited.
            </p>
            <label className="check">
              <input type="checkbox" checked={draft.lan_tls} onChange={(e) => set({ lan_tls: e.target.checked })} /> Use TLS (HTTPS with rbee's own certificate; clients pin its
              fingerprint, shown under Settings once rbee restarts)
            </label>
            {!draft.lan_tls ? (
              <label className="check">
                <input
                  id={`${id}-lan_plain_http_confirmed`}
                  type="checkbox"
                  checked={draft.lan_plain_http_confirmed}
                  onChange={(e) => set({ lan_plain_http_confirmed: e.target.checked })}
                  aria-invalid={!!errors.lan_plain_http_confirmed}
                  aria-describedby={errors.lan_plain_http_confirmed ? `${id}-lan_plain_http_confirmed-error` : undefined}
                />{' '}
                I understand that without TLS, keys and prompts cross the network unencrypted
              </label>
            ) : null}
            {errors.lan_plain_http_confirmed ? (
              <span className="field-error" id={`${id}-lan_plain_http_confirmed-error`} role="alert">
                {errors.lan_plain_http_confirmed}
              </span>
            ) : null}
          </>
        ) : null}
      </fieldset>
      <div className="form-actions wide">
        <button type="submit" className="primary">
          Save desktop settings
        </button>
        {status ? (
          <span className={status.kind === 'ok' ? 'ok-text' : 'error-text'} role={status.kind === 'ok' ? 'status' : 'alert'}>
            {status.text}
          </span>
        ) : null}
      </div>
    </form>
  );
}
