import type { DesktopSettings, SavedHive, WindowState } from './desktopSettingsSchema.js';
import { DesktopSettingsSchema } from './desktopSettingsSchema.js';
import { migrateSettings, type MigrationResult } from './migrateSettings.js';
import type { SecretSealer } from './SecretSealer.js';

/**
 * Where the settings live: electron-store in the app (atomic writes to `<userData>/config.json`), a
 * plain object in tests. Only the whole-object accessor is used, so validation stays here.
 */
export interface SettingsBackend {
  store: Record<string, unknown>;
}

/**
 * The desktop settings: zod-validated on every read and write, migrated on open, secrets sealed.
 * In-memory secrets cover the session when the OS cannot seal them.
 */
export class SettingsStore {
  private current: DesktopSettings;
  private readonly sessionSecrets = new Map<string, string>();
  readonly migration: Pick<MigrationResult, 'changed' | 'notes'>;

  constructor(
    private readonly backend: SettingsBackend,
    private readonly sealer: SecretSealer,
  ) {
    const result = migrateSettings(backend.store, (plain) => sealer.trySeal(plain));
    this.current = result.settings;
    this.migration = { changed: result.changed, notes: result.notes };
    if (result.changed) this.write();
  }

  get(): DesktopSettings {
    return structuredClone(this.current);
  }

  /** Applies a shallow patch (nested objects replace whole); throws on an invalid result, leaving the file untouched. */
  update(patch: Partial<Omit<DesktopSettings, 'schema_version' | 'secrets'>>): DesktopSettings {
    const next = DesktopSettingsSchema.parse({ ...this.current, ...patch });
    this.current = next;
    this.write();
    return this.get();
  }

  setWindowState(window: WindowState): void {
    this.update({ window });
  }

  /** Adds or replaces (by host+port+user) a remote hive. */
  saveHive(hive: SavedHive): void {
    const same = (h: SavedHive): boolean => h.host === hive.host && (h.port ?? 22) === (hive.port ?? 22) && h.user === hive.user;
    this.update({ hives: [...this.current.hives.filter((h) => !same(h)), hive] });
  }

  forgetHive(match: (hive: SavedHive) => boolean): void {
    this.update({ hives: this.current.hives.filter((h) => !match(h)) });
  }

  /**
   * Stores a secret sealed when the OS allows, else for this session only.
   * @returns whether it was persisted.
   */
  setSecret(name: string, plaintext: string): boolean {
    this.sessionSecrets.set(name, plaintext);
    const sealed = this.sealer.trySeal(plaintext);
    const secrets = { ...this.current.secrets };
    if (sealed) secrets[name] = sealed;
    else delete secrets[name];
    this.current = DesktopSettingsSchema.parse({ ...this.current, secrets });
    this.write();
    return sealed !== null;
  }

  getSecret(name: string): string | null {
    const session = this.sessionSecrets.get(name);
    if (session !== undefined) return session;
    const sealed = this.current.secrets[name];
    if (!sealed) return null;
    const plain = this.sealer.open(sealed);
    if (plain !== null) this.sessionSecrets.set(name, plain);
    return plain;
  }

  deleteSecret(name: string): void {
    this.sessionSecrets.delete(name);
    const secrets = { ...this.current.secrets };
    delete secrets[name];
    this.current = DesktopSettingsSchema.parse({ ...this.current, secrets });
    this.write();
  }

  private write(): void {
    this.backend.store = structuredClone(this.current) as unknown as Record<string, unknown>;
  }
}
