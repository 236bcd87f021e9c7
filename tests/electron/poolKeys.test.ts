// Pool API keys in the desktop app: sealed with safeStorage in the settings file, never plaintext on
// disk; reloaded after a restart; kept for the session only (and said so) where the OS cannot seal.
// Real queen (in this process, the code the app runs), real HTTP, a real rbee queen process as the
// engine whose key it is (it refuses any other key, so a pool that turns online proves the key was
// used). Two boundary substitutes, because the Electron binary cannot run here: safeStorage is
// `fakeSafeStorage()` (a reversible transform that never contains the plaintext), and electron-store
// is a JSON file written atomically on every change, as electron-store does.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolInfo } from '../../src-shared/control/poolSchemas.js';
import { tokenFingerprint } from '../../src-main/auth/tokenFingerprint.js';
import { SecretSealer } from '../../src-main/electron/settings/SecretSealer.js';
import { poolKeySecret, settingsPoolKeyStore } from '../../src-main/electron/settings/settingsPoolKeyStore.js';
import { SettingsStore, type SettingsBackend } from '../../src-main/electron/settings/SettingsStore.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import { FilePoolKeyStore } from '../../src-main/queen/pools/PoolKeyStore.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { capturedLogger } from '../helpers/capturedLogger.js';
import { startRbee, type RbeeProcess } from '../helpers/childProcess.js';
import { waitFor } from '../helpers/waitFor.js';
import { fakeSafeStorage, memorySettingsBackend } from './fakes.js';

const ENGINE_KEY = `engine-secret-${Math.random().toString(36).slice(2)}-0123456789abcdef`;
const FRONT_TOKEN = 'front-queen-token-0123456789';
const roots: string[] = [];
let engine: RbeeProcess;
let engineUrl = '';

beforeAll(async () => {
  const engineDir = tempDir('rbee-pool-engine-');
  // Another rbee queen (no hive needed: its GET /v1/models answers with or without workers) whose
  // token is the pool's key.
  engine = startRbee('queen', ['--port', '0', '--data-dir', engineDir, '--no-local-hive'], { LLORCH_API_TOKEN: ENGINE_KEY, RBEE_LOG_LEVEL: 'warn' });
  engineUrl = (await engine.waitForLine<{ url: string }>((l) => l.event === 'listening')).url;
}, 60_000);

afterAll(async () => {
  await engine?.stop();
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** Requests the engine refused for a missing or wrong key (its own metric): a pool that sends without its key raises it. */
async function engineAuthFailures(): Promise<number> {
  const text = await (await fetch(`${engineUrl}/metrics`, { headers: { authorization: `Bearer ${ENGINE_KEY}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith('rbee_queen_auth_failures_total'));
  return Number(line?.split(' ')[1] ?? 0);
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  roots.push(dir);
  return dir;
}

/** electron-store's part: the whole settings object as a JSON file, replaced atomically on every write. */
function fileBackend(path: string): SettingsBackend {
  return {
    get store() {
      return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>) : {};
    },
    set store(value) {
      writeFileSync(`${path}.tmp`, JSON.stringify(value), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    },
  };
}

/** Every byte under `dir`, file by file (settings, pools.json, audit, anything). */
function everyFile(dir: string): Array<{ path: string; bytes: Buffer }> {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return { path, bytes: readFileSync(path) };
    });
}

/** No file under `dir` holds the key, in any encoding a careless writer would use. */
function expectNoPlaintextKey(dir: string): void {
  const forms = [ENGINE_KEY, Buffer.from(ENGINE_KEY).toString('base64'), Buffer.from(ENGINE_KEY).toString('hex'), JSON.stringify(ENGINE_KEY).slice(1, -1)];
  const files = everyFile(dir);
  expect(files.length).toBeGreaterThan(0);
  for (const { path, bytes } of files) {
    for (const form of forms) expect(bytes.includes(Buffer.from(form)), `${form.slice(0, 12)}… in ${path}`).toBe(false);
  }
}

/** The desktop app's queen, as DesktopApp starts it, minus the local hive (pools only). */
class DesktopQueen {
  queen!: Queen;
  settings!: SettingsStore;
  logs = '';
  readonly dataDir: string;
  readonly settingsFile: string;

  constructor(
    readonly userData: string,
    private readonly safeStorage = fakeSafeStorage(),
  ) {
    this.dataDir = join(userData, 'rbee');
    this.settingsFile = join(userData, 'settings.json');
    mkdirSync(this.dataDir, { recursive: true });
  }

  /** Opens the settings file and starts a queen on them; `desktopKeys: false` is an earlier version (0600 files). */
  async start(options: { desktopKeys?: boolean } = {}): Promise<this> {
    this.settings = new SettingsStore(fileBackend(this.settingsFile), new SecretSealer(this.safeStorage));
    this.queen = await createQueen({
      dataDir: this.dataDir,
      port: 0,
      apiToken: FRONT_TOKEN,
      localHive: false,
      remoteHives: false,
      auditMode: 'local',
      logger: capturedLogger('queen', (text) => (this.logs += text)),
      ...(options.desktopKeys === false ? {} : { poolKeyStore: settingsPoolKeyStore(this.settings, new FilePoolKeyStore(this.dataDir)) }),
    });
    return this;
  }

  async stop(): Promise<void> {
    await this.queen.close();
  }

  private get auth(): Record<string, string> {
    return { authorization: `Bearer ${FRONT_TOKEN}`, 'content-type': 'application/json' };
  }

  async addPool(name: string, options: { replace?: boolean } = {}): Promise<PoolInfo> {
    const res = await fetch(`${this.queen.url}/v1/control/pools`, {
      method: 'POST',
      headers: this.auth,
      body: JSON.stringify({ name, base_url: `${engineUrl}/v1`, api_key: ENGINE_KEY, health_period_ms: 200, ...options }),
    });
    expect(res.status).toBe(options.replace ? 200 : 201);
    const text = await res.text();
    expect(text).not.toContain(ENGINE_KEY);
    return (JSON.parse(text) as { pool: PoolInfo }).pool;
  }

  chat(model: string): Promise<Response> {
    return fetch(`${this.queen.url}/v1/chat/completions`, { method: 'POST', headers: this.auth, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
  }

  async removePool(name: string): Promise<void> {
    expect((await fetch(`${this.queen.url}/v1/control/pools/${name}`, { method: 'DELETE', headers: this.auth })).status).toBe(204);
  }

  async pool(name: string): Promise<PoolInfo | undefined> {
    return ((await (await fetch(`${this.queen.url}/v1/control/pools`, { headers: this.auth })).json()) as { pools: PoolInfo[] }).pools.find((p) => p.name === name);
  }

  /** The sealed secret as the settings file holds it. */
  sealedInFile(name: string): unknown {
    return (JSON.parse(readFileSync(this.settingsFile, 'utf8')) as { secrets?: Record<string, unknown> }).secrets?.[poolKeySecret(name)];
  }
}

/** A first run on the headless store (0600 key files, as an earlier version of the app too): `pool` added with its key, the queen stopped. */
async function addedWithKeyFile(userData: string, pool: string): Promise<DesktopQueen> {
  const queen = await new DesktopQueen(userData).start({ desktopKeys: false });
  try {
    expect((await queen.addPool(pool)).key_storage).toBe('file');
  } finally {
    await queen.stop();
  }
  return queen;
}

describe('pool keys in the desktop app', () => {
  it('are sealed with safeStorage: no plaintext byte of the key reaches disk, and a restart reloads the key', async () => {
    const desktop = await new DesktopQueen(tempDir('rbee-desktop-keys-')).start();
    try {
      const added = await desktop.addPool('lab');
      expect(added.key_fingerprint).toBe(tokenFingerprint(ENGINE_KEY));
      expect(added.key_storage).toBe('sealed');
      // The engine refuses any other key: online means the key reached it.
      await waitFor(() => desktop.pool('lab'), (p) => p?.health === 'online', { timeoutMs: 30_000, what: 'pool online with its key', retryErrors: true });

      // On disk: the sealed form in the settings, no key file, no plaintext anywhere.
      expect(desktop.sealedInFile('lab')).toMatchObject({ sealed: 'safeStorage', data: expect.any(String) });
      expect(existsSync(join(desktop.dataDir, 'pool-keys', 'lab.key'))).toBe(false);
      expectNoPlaintextKey(desktop.userData);
      expect(desktop.logs).toContain('pool added');
      expect(desktop.logs).not.toContain(ENGINE_KEY);
    } finally {
      await desktop.stop();
    }

    // Restart: a new settings store on the same file, a new queen.
    await desktop.start();
    try {
      const back = await waitFor(() => desktop.pool('lab'), (p) => p?.health === 'online', { timeoutMs: 30_000, what: 'pool online after the restart', retryErrors: true });
      expect(back?.key_fingerprint).toBe(tokenFingerprint(ENGINE_KEY));
      expect(back?.key_storage).toBe('sealed');
      expectNoPlaintextKey(desktop.userData);

      // Removing the pool forgets its sealed key too.
      await desktop.removePool('lab');
      expect(desktop.sealedInFile('lab')).toBeUndefined();
    } finally {
      await desktop.stop();
    }
  }, 120_000);

  it('where the OS cannot seal (Linux basic_text), the key serves this session only and the pool list says so; nothing reaches disk', async () => {
    const desktop = await new DesktopQueen(tempDir('rbee-desktop-nokeyring-'), fakeSafeStorage({ backend: 'basic_text' })).start();
    try {
      const added = await desktop.addPool('lab');
      expect(added.key_fingerprint).toBe(tokenFingerprint(ENGINE_KEY));
      expect(added.key_storage).toBe('session');
      await waitFor(() => desktop.pool('lab'), (p) => p?.health === 'online', { timeoutMs: 30_000, what: 'pool online with its session key', retryErrors: true });
      expect(desktop.sealedInFile('lab')).toBeUndefined();
      expectNoPlaintextKey(desktop.userData);
    } finally {
      await desktop.stop();
    }

    // After a restart the key is gone, as the list said it would be. The pool says so and which key it
    // was; it sends nothing to the engine (no unauthenticated call reaches it, so no refusal opens the
    // breaker), and a request gets a 503 naming the fix.
    await desktop.start();
    try {
      const refusedBefore = await engineAuthFailures();
      const back = await waitFor(() => desktop.pool('lab'), (p) => p?.health === 'unreachable', { timeoutMs: 30_000, what: 'pool reported without its key', retryErrors: true });
      expect(back?.key_storage).toBe('lost');
      expect(back?.key_fingerprint).toBe(tokenFingerprint(ENGINE_KEY));
      expect(back?.last_error).toContain('add the pool again with its key');
      const answer = await desktop.chat('lab/any-model');
      expect(answer.status).toBe(503);
      const body = (await answer.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('model_unavailable');
      expect(body.error.message).toContain('Pool lab cannot be used: its API key is gone');
      expect((await desktop.pool('lab'))?.breaker.state).toBe('closed');
      expect(await engineAuthFailures()).toBe(refusedBefore);
      expect(desktop.logs).toContain('its API key is gone');
    } finally {
      await desktop.stop();
    }
  }, 120_000);

  it('headless, a deleted key file leaves the pool lost (not keyless): requests are refused by the queen, never sent without the key', async () => {
    const headless = await addedWithKeyFile(tempDir('rbee-headless-keyfile-'), 'lab');
    const remembered = readFileSync(join(headless.dataDir, 'pools.json'), 'utf8');
    expect(remembered).toContain(tokenFingerprint(ENGINE_KEY));
    expect(remembered).not.toContain(ENGINE_KEY);
    rmSync(join(headless.dataDir, 'pool-keys', 'lab.key'));

    await headless.start({ desktopKeys: false });
    try {
      const refusedBefore = await engineAuthFailures();
      const lost = await waitFor(() => headless.pool('lab'), (p) => p?.health === 'unreachable', { timeoutMs: 30_000, what: 'pool reported without its key', retryErrors: true });
      expect(lost).toMatchObject({ key_storage: 'lost', key_fingerprint: tokenFingerprint(ENGINE_KEY) });
      expect((await headless.chat('lab/any-model')).status).toBe(503);
      expect(await engineAuthFailures()).toBe(refusedBefore);

      // Added again with its key: in use at once.
      expect((await headless.addPool('lab', { replace: true })).key_storage).toBe('file');
      await waitFor(() => headless.pool('lab'), (p) => p?.health === 'online', { timeoutMs: 30_000, what: 'pool online with its key again', retryErrors: true });
    } finally {
      await headless.stop();
    }
  }, 120_000);

  it('a key an earlier version kept in a 0600 file moves into safeStorage, and the file is deleted', async () => {
    const desktop = await addedWithKeyFile(tempDir('rbee-desktop-migrate-'), 'old');
    const keyFile = join(desktop.dataDir, 'pool-keys', 'old.key');
    expect(readFileSync(keyFile, 'utf8')).toBe(ENGINE_KEY);

    await desktop.start();
    try {
      const moved = await waitFor(() => desktop.pool('old'), (p) => p?.health === 'online', { timeoutMs: 30_000, what: 'migrated pool online', retryErrors: true });
      expect(moved?.key_storage).toBe('sealed');
      expect(existsSync(keyFile)).toBe(false);
      expect(desktop.sealedInFile('old')).toMatchObject({ sealed: 'safeStorage' });
      expectNoPlaintextKey(desktop.userData);
    } finally {
      await desktop.stop();
    }
  }, 120_000);

  it('a sealed key the OS can no longer open is reported lost, not used and not guessed', async () => {
    const sealedElsewhere = { sealed: 'safeStorage', data: Buffer.from('not sealed by this OS').toString('base64') };
    const settings = new SettingsStore(memorySettingsBackend({ secrets: { [poolKeySecret('gone')]: sealedElsewhere } }), new SecretSealer(fakeSafeStorage()));
    const store = settingsPoolKeyStore(settings);
    expect(await store.read('gone')).toEqual({ key: undefined, storage: 'lost' });
    expect(await store.read('never-added')).toBeUndefined();
  });
});
