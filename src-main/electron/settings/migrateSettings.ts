import { defaultDesktopSettings, DesktopSettingsSchema, SETTINGS_SCHEMA_VERSION, type DesktopSettings } from './desktopSettingsSchema.js';

/** Seals a plaintext secret found in an old or hand-edited file; null when it cannot be sealed. */
export type SealFn = (plaintext: string) => { sealed: 'safeStorage'; data: string } | null;

export class SettingsTooNewError extends Error {
  override readonly name = 'SettingsTooNewError';
  constructor(readonly found: number) {
    super(`The settings file has schema version ${found}, newer than this app understands (${SETTINGS_SCHEMA_VERSION}). Update rbee, or move the file away to start fresh.`);
  }
}

export interface MigrationResult {
  settings: DesktopSettings;
  /** True when anything was changed (the caller writes the file back). */
  changed: boolean;
  /** Human-readable notes: fields repaired, secrets moved, … (for the log). */
  notes: string[];
}

type Raw = Record<string, unknown>;

/**
 * One step per schema version: `MIGRATIONS[n]` turns a version-n object into version n+1.
 * Version 0 is any file without `schema_version` — a fresh store, or one written by hand or by the
 * pre-release builds that kept flat keys (`port`, `api_token` in plaintext, `windowBounds`).
 */
const MIGRATIONS: Record<number, (raw: Raw, seal: SealFn, notes: string[]) => Raw> = {
  0: (raw, seal, notes) => {
    const out: Raw = { ...raw, schema_version: 1 };
    if (typeof raw.port === 'number' && out.queen_port === undefined) {
      out.queen_port = raw.port;
      notes.push('renamed port → queen_port');
    }
    delete out.port;
    if (raw.windowBounds && typeof raw.windowBounds === 'object' && out.window === undefined) {
      out.window = { ...(raw.windowBounds as Raw), maximized: false };
      notes.push('renamed windowBounds → window');
    }
    delete out.windowBounds;
    const secrets: Raw = out.secrets && typeof out.secrets === 'object' ? { ...(out.secrets as Raw) } : {};
    for (const key of ['api_token', 'apiToken']) {
      const value = raw[key];
      delete out[key];
      if (typeof value === 'string' && value.length > 0) {
        const sealed = seal(value);
        if (sealed) {
          secrets.api_token = sealed;
          notes.push(`sealed plaintext ${key} with safeStorage`);
        } else {
          notes.push(`dropped plaintext ${key}: safeStorage is unavailable, a new token will be generated`);
        }
      }
    }
    out.secrets = secrets;
    return out;
  },
};

/**
 * Brings whatever is on disk to the current schema: runs the version steps, then validates field by
 * field — a field that fails its schema is reset to its default (noted), so one bad hand edit does
 * not wipe the rest. A file from a newer app version is refused rather than silently downgraded.
 */
export function migrateSettings(input: unknown, seal: SealFn): MigrationResult {
  const notes: string[] = [];
  let raw: Raw = input && typeof input === 'object' && !Array.isArray(input) ? { ...(input as Raw) } : {};
  const original = JSON.stringify(raw);
  let version = typeof raw.schema_version === 'number' ? raw.schema_version : 0;
  if (version > SETTINGS_SCHEMA_VERSION) throw new SettingsTooNewError(version);
  while (version < SETTINGS_SCHEMA_VERSION) {
    const step = MIGRATIONS[version];
    if (!step) throw new Error(`No settings migration from version ${version}`);
    raw = step(raw, seal, notes);
    version += 1;
  }

  const defaults = defaultDesktopSettings();
  const shape = DesktopSettingsSchema.shape;
  const repaired: Raw = {};
  for (const key of Object.keys(shape) as Array<keyof typeof shape>) {
    const value = raw[key];
    if (value === undefined) {
      repaired[key] = defaults[key];
      continue;
    }
    const parsed = shape[key].safeParse(value);
    if (parsed.success) repaired[key] = parsed.data;
    else {
      repaired[key] = defaults[key];
      notes.push(`reset invalid ${key} to its default`);
    }
  }
  for (const key of Object.keys(raw)) {
    if (!(key in shape)) notes.push(`dropped unknown key ${key}`);
  }
  const settings = DesktopSettingsSchema.parse(repaired);
  return { settings, changed: JSON.stringify(settings) !== original, notes };
}
