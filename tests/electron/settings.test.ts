import { describe, expect, it } from 'vitest';
import { defaultDesktopSettings, SETTINGS_SCHEMA_VERSION } from '../../src-main/electron/settings/desktopSettingsSchema.js';
import { migrateSettings, SettingsTooNewError } from '../../src-main/electron/settings/migrateSettings.js';
import { SecretSealer, SecretUnavailableError } from '../../src-main/electron/settings/SecretSealer.js';
import { SettingsStore, type SettingsBackend } from '../../src-main/electron/settings/SettingsStore.js';
import { settingsWorkerSpecStore } from '../../src-main/electron/settings/settingsWorkerSpecStore.js';
import { fakeSafeStorage } from './fakes.js';

const TOKEN = 'rbee-test-token-0123456789abcdef';

function backend(initial: Record<string, unknown> = {}): SettingsBackend & { writes: number; text(): string } {
  let data = structuredClone(initial);
  const b = {
    writes: 0,
    get store() {
      return structuredClone(data);
    },
    set store(value: Record<string, unknown>) {
      b.writes += 1;
      data = structuredClone(value);
    },
    text: () => JSON.stringify(data),
  };
  return b;
}

describe('settings migrations', () => {
  const sealer = new SecretSealer(fakeSafeStorage());
  const seal = (p: string) => sealer.trySeal(p);

  it('a fresh (empty) store becomes the current defaults', () => {
    const r = migrateSettings({}, seal);
    expect(r.settings).toEqual(defaultDesktopSettings());
    expect(r.changed).toBe(true);
  });

  it('migrates the pre-release flat layout: port, windowBounds, plaintext api_token', () => {
    const r = migrateSettings({ port: 9000, windowBounds: { x: 5, y: 6, width: 900, height: 700 }, api_token: TOKEN, audit_mode: 'disabled' }, seal);
    expect(r.settings.schema_version).toBe(SETTINGS_SCHEMA_VERSION);
    expect(r.settings.queen_port).toBe(9000);
    expect(r.settings.window).toEqual({ x: 5, y: 6, width: 900, height: 700, maximized: false });
    expect(r.settings.audit_mode).toBe('disabled');
    expect(r.settings.secrets.api_token?.sealed).toBe('safeStorage');
    expect(JSON.stringify(r.settings)).not.toContain(TOKEN);
    expect(r.notes).toContain('sealed plaintext api_token with safeStorage');
    expect(sealer.open(r.settings.secrets.api_token!)).toBe(TOKEN);
  });

  it('drops a plaintext token it cannot seal rather than keep it', () => {
    const weak = new SecretSealer(fakeSafeStorage({ backend: 'basic_text' }));
    const r = migrateSettings({ api_token: TOKEN }, (p) => weak.trySeal(p));
    expect(r.settings.secrets).toEqual({});
    expect(JSON.stringify(r.settings)).not.toContain(TOKEN);
  });

  it('resets only the invalid fields of a hand-edited file', () => {
    const r = migrateSettings({ schema_version: 1, queen_port: 'eighty', audit_mode: 'local', hive_port: 9999, quick_shortcut: 'Alt+Space', bogus: 1 }, seal);
    expect(r.settings.queen_port).toBe(7833);
    expect(r.settings.hive_port).toBe(9999);
    expect(r.settings.quick_shortcut).toBe('Alt+Space');
    expect(r.notes).toEqual(expect.arrayContaining(['reset invalid queen_port to its default', 'dropped unknown key bogus']));
  });

  it('is idempotent on a current file', () => {
    const once = migrateSettings({ port: 9000 }, seal).settings;
    const twice = migrateSettings(once, seal);
    expect(twice.settings).toEqual(once);
    expect(twice.changed).toBe(false);
  });

  it('refuses a file from a newer app instead of downgrading it', () => {
    expect(() => migrateSettings({ schema_version: SETTINGS_SCHEMA_VERSION + 1 }, seal)).toThrow(SettingsTooNewError);
  });
});

describe('secrets are never stored in plain text', () => {
  it('API token and SSH passphrase are sealed with safeStorage in the file, readable through the store', () => {
    const b = backend();
    const store = new SettingsStore(b, new SecretSealer(fakeSafeStorage()));
    expect(store.setSecret('api_token', TOKEN)).toBe(true);
    expect(store.setSecret('ssh_passphrase:gpu1', 'correct horse battery staple')).toBe(true);
    expect(b.text()).not.toContain(TOKEN);
    expect(b.text()).not.toContain('correct horse');
    expect(b.text()).not.toContain(Buffer.from(TOKEN).toString('base64'));
    const reopened = new SettingsStore(backend(b.store), new SecretSealer(fakeSafeStorage()));
    expect(reopened.getSecret('api_token')).toBe(TOKEN);
    expect(reopened.getSecret('ssh_passphrase:gpu1')).toBe('correct horse battery staple');
  });

  it('without OS encryption (or with Linux basic_text) a secret lives in memory only', () => {
    for (const storage of [fakeSafeStorage({ available: false }), fakeSafeStorage({ backend: 'basic_text' })]) {
      const b = backend();
      const store = new SettingsStore(b, new SecretSealer(storage));
      expect(store.setSecret('api_token', TOKEN)).toBe(false);
      expect(store.getSecret('api_token')).toBe(TOKEN);
      expect(b.text()).not.toContain(TOKEN);
      expect(store.get().secrets).toEqual({});
      expect(() => new SecretSealer(storage).seal(TOKEN)).toThrow(SecretUnavailableError);
    }
  });

  it('a secret the OS can no longer open reads as null (a new one is then generated)', () => {
    const b = backend();
    new SettingsStore(b, new SecretSealer(fakeSafeStorage())).setSecret('api_token', TOKEN);
    const broken = { ...fakeSafeStorage(), decryptString: () => { throw new Error('keychain reset'); } };
    expect(new SettingsStore(backend(b.store), new SecretSealer(broken)).getSecret('api_token')).toBeNull();
  });

  it('rejects invalid updates and leaves the file as it was', () => {
    const b = backend();
    const store = new SettingsStore(b, new SecretSealer(fakeSafeStorage()));
    const before = b.text();
    expect(() => store.update({ queen_port: -1 })).toThrow();
    expect(b.text()).toBe(before);
    store.update({ queen_port: 0 });
    expect(store.get().queen_port).toBe(0);
  });

  it('keeps remote hives, replacing one with the same host, port and user', () => {
    const store = new SettingsStore(backend(), new SecretSealer(fakeSafeStorage()));
    store.saveHive({ host: 'gpu1', user: 'lab' });
    store.saveHive({ host: 'gpu1', user: 'lab', trusted_fingerprint: 'SHA256:abc' });
    store.saveHive({ host: 'gpu2' });
    expect(store.get().hives).toEqual([{ host: 'gpu1', user: 'lab', trusted_fingerprint: 'SHA256:abc' }, { host: 'gpu2' }]);
    store.forgetHive((h) => h.host === 'gpu1');
    expect(store.get().hives).toEqual([{ host: 'gpu2' }]);
  });

  it('keeps the queen\'s declared workers (its WorkerSpecStore in the app) across a reopen', async () => {
    const b = backend();
    const specs = settingsWorkerSpecStore(new SettingsStore(b, new SecretSealer(fakeSafeStorage())));
    expect(await specs.load()).toEqual([]);
    const spec = { id: 'chat', hive: 'local', model: 'tiny.gguf', threads: 1, idle_ttl_ms: null, enabled: false, ephemeral: false, hot_spare: true };
    await specs.save([spec]);
    const reopened = settingsWorkerSpecStore(new SettingsStore(backend(b.store), new SecretSealer(fakeSafeStorage())));
    expect(await reopened.load()).toEqual([spec]);
    await expect(reopened.save([{ ...spec, id: '../x' }])).rejects.toThrow();
  });
});
