import type { StateCreator } from 'zustand';
import type { RestartPolicySettings, Settings, SettingsPatch } from '../../src-shared/control/ControlApi.js';
import { getApi } from '../bridge/apiRegistry.js';
import { errorMessage } from './errors.js';
import type { RbeeState } from './store.js';

export interface SettingsData {
  value: Settings | null;
  status: 'idle' | 'loading' | 'ready' | 'error';
  error: string | null;
  save: { state: 'idle' | 'saving' | 'saved' | 'error'; message: string | null };
}

export interface SettingsSlice {
  settings: SettingsData;
  loadSettings: () => Promise<void>;
  saveSettings: (patch: SettingsPatch) => Promise<boolean>;
}

export const initialSettingsData: SettingsData = { value: null, status: 'idle', error: null, save: { state: 'idle', message: null } };

type PolicyKey = keyof RestartPolicySettings;

interface FieldRule {
  label: string;
  min: number;
  max: number;
  integer: boolean;
  unit: string;
  help: string;
}

/** What each restart-policy number means and its accepted range (validated before saving). */
export const POLICY_FIELDS: Record<PolicyKey, FieldRule> = {
  backoff_base_ms: { label: 'Backoff base', min: 10, max: 600_000, integer: true, unit: 'ms', help: 'First restart delay; doubles per attempt.' },
  backoff_max_ms: { label: 'Backoff cap', min: 10, max: 3_600_000, integer: true, unit: 'ms', help: 'Longest restart delay.' },
  jitter_ratio: { label: 'Jitter', min: 0, max: 0.9, integer: false, unit: 'ratio', help: '±fraction of randomness on each delay (0.2 = ±20 %).' },
  max_restarts: { label: 'Max consecutive restarts', min: 0, max: 100, integer: true, unit: 'attempts', help: 'Then the worker is failed until an operator restarts it.' },
  stability_window_ms: { label: 'Stability window', min: 1000, max: 86_400_000, integer: true, unit: 'ms', help: 'Healthy this long resets the attempt count and closes a half-open breaker.' },
  breaker_failures: { label: 'Breaker failures', min: 1, max: 1000, integer: true, unit: 'failures', help: 'Failures within the window that open the breaker.' },
  breaker_window_ms: { label: 'Breaker window', min: 1000, max: 86_400_000, integer: true, unit: 'ms', help: 'Window in which failures are counted.' },
  breaker_cooldown_ms: { label: 'Breaker cooldown', min: 1000, max: 86_400_000, integer: true, unit: 'ms', help: 'Open time before one half-open trial start.' },
  load_timeout_ms: { label: 'Load timeout', min: 1000, max: 3_600_000, integer: true, unit: 'ms', help: 'A load stuck longer counts as a failure.' },
  health_period_ms: { label: 'Health check period', min: 100, max: 600_000, integer: true, unit: 'ms', help: 'Interval between health checks.' },
  health_failures: { label: 'Health failures', min: 1, max: 100, integer: true, unit: 'checks', help: 'Failed checks in a row that kill the worker.' },
};

export type PolicyDraft = Record<PolicyKey, string>;

/** Pure: parse and validate a draft; returns field errors or the numbers. */
export function validatePolicy(draft: PolicyDraft): { ok: true; value: RestartPolicySettings } | { ok: false; errors: Partial<Record<PolicyKey, string>> } {
  const errors: Partial<Record<PolicyKey, string>> = {};
  const value = {} as RestartPolicySettings;
  for (const key of Object.keys(POLICY_FIELDS) as PolicyKey[]) {
    const rule = POLICY_FIELDS[key];
    const raw = draft[key].trim();
    const n = Number(raw);
    if (raw === '' || !Number.isFinite(n)) errors[key] = `${rule.label} must be a number.`;
    else if (rule.integer && !Number.isInteger(n)) errors[key] = `${rule.label} must be a whole number.`;
    else if (n < rule.min || n > rule.max) errors[key] = `${rule.label} must be between ${rule.min} and ${rule.max}.`;
    else value[key] = n;
  }
  if (!errors.backoff_base_ms && !errors.backoff_max_ms && value.backoff_base_ms > value.backoff_max_ms) {
    errors.backoff_max_ms = 'Backoff cap must be at least the backoff base.';
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, value };
}

export function policyDraft(policy: RestartPolicySettings): PolicyDraft {
  const draft = {} as PolicyDraft;
  for (const key of Object.keys(POLICY_FIELDS) as PolicyKey[]) draft[key] = String(policy[key]);
  return draft;
}

export const createSettingsSlice: StateCreator<RbeeState, [], [], SettingsSlice> = (set) => ({
  settings: initialSettingsData,
  loadSettings: async () => {
    set((s) => ({ settings: { ...s.settings, status: 'loading', error: null } }));
    try {
      const value = await getApi().getSettings();
      set((s) => ({ settings: { ...s.settings, value, status: 'ready' } }));
    } catch (error) {
      set((s) => ({ settings: { ...s.settings, status: 'error', error: errorMessage(error) } }));
    }
  },
  saveSettings: async (patch) => {
    set((s) => ({ settings: { ...s.settings, save: { state: 'saving', message: null } } }));
    try {
      const value = await getApi().updateSettings(patch);
      set((s) => ({ settings: { ...s.settings, value, status: 'ready', save: { state: 'saved', message: 'Settings saved.' } } }));
      return true;
    } catch (error) {
      set((s) => ({ settings: { ...s.settings, save: { state: 'error', message: errorMessage(error) } } }));
      return false;
    }
  },
});

/** The audit part of the settings form as typed: blank means "no limit". */
export interface AuditRetentionDraft {
  days: string;
  maxMiB: string;
}

export function auditRetentionDraft(settings: Pick<Settings, 'audit_retention_days' | 'audit_max_bytes'>): AuditRetentionDraft {
  return {
    days: settings.audit_retention_days === null ? '' : String(settings.audit_retention_days),
    maxMiB: settings.audit_max_bytes === null ? '' : String(Math.round(settings.audit_max_bytes / (1024 * 1024))),
  };
}

/**
 * Checks the audit retention fields against the limits the queen enforces (SettingsPatchSchema):
 * days a whole number 1–36 500, size a whole number of MiB ≥ 1; blank clears the limit.
 */
export function validateAuditRetention(
  draft: AuditRetentionDraft,
): { ok: true; value: { audit_retention_days: number | null; audit_max_bytes: number | null } } | { ok: false; errors: Partial<Record<keyof AuditRetentionDraft, string>> } {
  const errors: Partial<Record<keyof AuditRetentionDraft, string>> = {};
  const whole = (text: string, min: number, max: number): number | null | undefined => {
    const t = text.trim();
    if (t === '') return null;
    if (!/^\d+$/.test(t)) return undefined;
    const n = Number(t);
    return n >= min && n <= max ? n : undefined;
  };
  const days = whole(draft.days, 1, 36_500);
  if (days === undefined) errors.days = 'A whole number of days from 1 to 36 500, or blank to keep files forever.';
  const mib = whole(draft.maxMiB, 1, Math.floor(Number.MAX_SAFE_INTEGER / (1024 * 1024)));
  if (mib === undefined) errors.maxMiB = 'A whole number of MiB (at least 1), or blank for no size limit.';
  if (days === undefined || mib === undefined) return { ok: false, errors };
  return { ok: true, value: { audit_retention_days: days, audit_max_bytes: mib === null ? null : mib * 1024 * 1024 } };
}
