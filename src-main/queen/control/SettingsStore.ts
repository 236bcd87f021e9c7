import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RestartPolicySettings, Settings, SettingsPatch } from '../../../src-shared/control/ControlApi.js';
import { DEFAULT_RESTART_POLICY, resolveRestartPolicy } from '../../../src-shared/policy/RestartPolicyConfig.js';

export interface StoredSettings {
  version: 1;
  restart_policy: RestartPolicySettings;
  audit_mode: 'disabled' | 'local';
  audit_retention_days: number | null;
  audit_max_bytes: number | null;
  audit_fail_closed: boolean;
  allowed_hosts: string[];
  allowed_origins: string[];
  downloads_allow_loopback: boolean;
  downloads_allow_private: boolean;
}

function positiveIntOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : null;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * The queen's persisted settings (`<dataDir>/settings.json`, written atomically). Headless queens and
 * the desktop app share it; the desktop app's own preferences live in electron-store.
 */
export class SettingsStore {
  private readonly listeners: ((after: StoredSettings) => void)[] = [];

  private constructor(
    private readonly path: string,
    private stored: StoredSettings,
  ) {}

  static async open(path: string, defaults: { audit_mode: 'disabled' | 'local' }): Promise<SettingsStore> {
    let stored: StoredSettings = { version: 1, restart_policy: { ...DEFAULT_RESTART_POLICY }, audit_mode: defaults.audit_mode, audit_retention_days: null, audit_max_bytes: null, audit_fail_closed: false, allowed_hosts: [], allowed_origins: [], downloads_allow_loopback: false, downloads_allow_private: true };
    try {
      const raw = JSON.parse(await readFile(path, 'utf8')) as Partial<StoredSettings>;
      stored = {
        version: 1,
        restart_policy: resolveRestartPolicy(raw.restart_policy ?? {}),
        audit_mode: raw.audit_mode === 'local' || raw.audit_mode === 'disabled' ? raw.audit_mode : defaults.audit_mode,
        audit_retention_days: positiveIntOrNull(raw.audit_retention_days),
        audit_max_bytes: positiveIntOrNull(raw.audit_max_bytes),
        audit_fail_closed: raw.audit_fail_closed === true,
        allowed_hosts: stringList(raw.allowed_hosts),
        allowed_origins: stringList(raw.allowed_origins),
        downloads_allow_loopback: raw.downloads_allow_loopback === true,
        downloads_allow_private: raw.downloads_allow_private !== false,
      };
    } catch {
      // first run or unreadable: defaults, written on the first change
    }
    return new SettingsStore(path, stored);
  }

  get restartPolicy(): RestartPolicySettings {
    return { ...this.stored.restart_policy };
  }

  get auditMode(): 'disabled' | 'local' {
    return this.stored.audit_mode;
  }

  /** Audit retention: days, and bytes per chain (null: no limit). */
  get auditRetention(): { days: number | null; maxBytes: number | null } {
    return { days: this.stored.audit_retention_days, maxBytes: this.stored.audit_max_bytes };
  }

  /** Refuse inference while the audit log cannot write. */
  get auditFailClosed(): boolean {
    return this.stored.audit_fail_closed;
  }

  /** Called after every stored change. */
  onChange(listener: (after: StoredSettings) => void): void {
    this.listeners.push(listener);
  }

  /** Configured Host names (read per request by the Host guard). */
  get allowedHosts(): readonly string[] {
    return this.stored.allowed_hosts;
  }

  /** Configured browser origins (read per request by the Origin guard). */
  get allowedOrigins(): readonly string[] {
    return this.stored.allowed_origins;
  }

  /** Download network policy for hives started from now on. */
  get downloadNetwork(): { allowLoopback: boolean; allowPrivate: boolean } {
    return { allowLoopback: this.stored.downloads_allow_loopback, allowPrivate: this.stored.downloads_allow_private };
  }

  view(extra: Omit<Settings, 'restart_policy' | 'audit_mode' | 'audit_retention_days' | 'audit_max_bytes' | 'audit_fail_closed' | 'allowed_hosts' | 'allowed_origins' | 'downloads_allow_loopback' | 'downloads_allow_private'>): Settings {
    return {
      restart_policy: this.restartPolicy,
      audit_mode: this.stored.audit_mode,
      audit_retention_days: this.stored.audit_retention_days,
      audit_max_bytes: this.stored.audit_max_bytes,
      audit_fail_closed: this.stored.audit_fail_closed,
      allowed_hosts: [...this.stored.allowed_hosts],
      allowed_origins: [...this.stored.allowed_origins],
      downloads_allow_loopback: this.stored.downloads_allow_loopback,
      downloads_allow_private: this.stored.downloads_allow_private,
      ...extra,
    };
  }

  /** Validates the whole result before anything is stored (InvalidRestartPolicyError on bad numbers). */
  async update(patch: SettingsPatch): Promise<{ before: StoredSettings; after: StoredSettings }> {
    const before = this.stored;
    const after: StoredSettings = {
      version: 1,
      restart_policy: patch.restart_policy ? resolveRestartPolicy(patch.restart_policy, before.restart_policy) : before.restart_policy,
      audit_mode: patch.audit_mode ?? before.audit_mode,
      audit_retention_days: patch.audit_retention_days === undefined ? before.audit_retention_days : patch.audit_retention_days,
      audit_max_bytes: patch.audit_max_bytes === undefined ? before.audit_max_bytes : patch.audit_max_bytes,
      audit_fail_closed: patch.audit_fail_closed ?? before.audit_fail_closed,
      allowed_hosts: patch.allowed_hosts ?? before.allowed_hosts,
      allowed_origins: patch.allowed_origins ?? before.allowed_origins,
      downloads_allow_loopback: patch.downloads_allow_loopback ?? before.downloads_allow_loopback,
      downloads_allow_private: patch.downloads_allow_private ?? before.downloads_allow_private,
    };
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(after, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
    this.stored = after;
    for (const listener of this.listeners) listener(after);
    return { before, after };
  }
}
