import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RestartPolicySettings, Settings, SettingsPatch } from '../../../src-shared/control/ControlApi.js';
import { DEFAULT_RESTART_POLICY, resolveRestartPolicy } from '../../../src-shared/policy/RestartPolicyConfig.js';

interface StoredSettings {
  version: 1;
  restart_policy: RestartPolicySettings;
  audit_mode: 'disabled' | 'local';
}

/**
 * The queen's persisted settings (`<dataDir>/settings.json`, written atomically). Headless queens and
 * the desktop app share it; the desktop app's own preferences live in electron-store.
 */
export class SettingsStore {
  private constructor(
    private readonly path: string,
    private stored: StoredSettings,
  ) {}

  static async open(path: string, defaults: { audit_mode: 'disabled' | 'local' }): Promise<SettingsStore> {
    let stored: StoredSettings = { version: 1, restart_policy: { ...DEFAULT_RESTART_POLICY }, audit_mode: defaults.audit_mode };
    try {
      const raw = JSON.parse(await readFile(path, 'utf8')) as Partial<StoredSettings>;
      stored = {
        version: 1,
        restart_policy: resolveRestartPolicy(raw.restart_policy ?? {}),
        audit_mode: raw.audit_mode === 'local' || raw.audit_mode === 'disabled' ? raw.audit_mode : defaults.audit_mode,
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

  view(extra: Omit<Settings, 'restart_policy' | 'audit_mode'>): Settings {
    return { restart_policy: this.restartPolicy, audit_mode: this.stored.audit_mode, ...extra };
  }

  /** Validates the whole result before anything is stored (InvalidRestartPolicyError on bad numbers). */
  async update(patch: SettingsPatch): Promise<{ before: StoredSettings; after: StoredSettings }> {
    const before = this.stored;
    const after: StoredSettings = {
      version: 1,
      restart_policy: patch.restart_policy ? resolveRestartPolicy(patch.restart_policy, before.restart_policy) : before.restart_policy,
      audit_mode: patch.audit_mode ?? before.audit_mode,
    };
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(after, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
    this.stored = after;
    return { before, after };
  }
}
