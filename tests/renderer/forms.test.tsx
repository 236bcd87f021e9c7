// @vitest-environment jsdom
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AddHiveRequest, ControlApi, Settings, SettingsPatch } from '../../src-shared/control/ControlApi.js';
import { installApi } from '../../src-renderer/bridge/apiRegistry.js';
import { dispatchClusterEvent, useRbee } from '../../src-renderer/stores/store.js';
import { ClusterView } from '../../src-renderer/views/ClusterView.js';
import { ModelsView } from '../../src-renderer/views/ModelsView.js';
import { SettingsView } from '../../src-renderer/views/SettingsView.js';
import { ev, hive } from './fixtures.js';
import { fakeApiKey } from '../helpers/fakeApiKey.js';
import type { CreateApiKeyRequest } from '../../src-shared/control/apiKeys.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let container: HTMLDivElement;
let root: Root;

function api(patch: Partial<ControlApi>): ControlApi {
  const no = () => Promise.reject(new Error('not used'));
  return {
    getSnapshot: no,
    subscribe: () => () => undefined,
    spawnWorker: no,
    listWorkerSpecs: async () => [],
    createWorkerSpec: no,
    getWorkerSpec: no,
    replaceWorkerSpec: no,
    deleteWorkerSpec: no,
    stopWorker: no,
    startWorker: no,
    restartWorker: no,
    resetBreaker: no,
    getWorkerLogs: no,
    listModels: no,
    downloadModel: no,
    uploadModel: no,
    deleteModel: no,
    listHives: no,
    addHive: no,
    removeHive: no,
    listPools: no,
    testPool: no,
    resetPoolBreaker: no,
    queryAudit: no,
    verifyAudit: no,
    getSettings: no,
    updateSettings: no,
    listKeys: async () => [],
    createKey: no,
    revokeKey: no,
    revealAdminToken: async () => 'admin-token-for-tests',
    infer: no,
    ...patch,
  };
}

/** Set an input's value the way React notices (native setter + input event). */
function type(el: Element | null, value: string) {
  if (!(el instanceof HTMLInputElement) && !(el instanceof HTMLSelectElement)) throw new Error('not an input');
  const proto = el instanceof HTMLInputElement ? HTMLInputElement.prototype : HTMLSelectElement.prototype;
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
  el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
}
const byLabel = (text: string) => {
  const label = [...container.querySelectorAll('label')].find((l) => l.textContent?.trim() === text);
  return label ? document.getElementById(label.htmlFor) : null;
};
const button = (text: string) => [...container.querySelectorAll('button')].find((b) => b.textContent?.trim() === text)!;

beforeEach(() => {
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
  act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot: { hives: [hive()], workers: [], models: [] } }, 0)));
});
afterEach(() => {
  act(() => root.unmount());
  container.remove();
  useRbee.setState(useRbee.getInitialState(), true);
});

describe('add-hive flow', () => {
  it('shows the unknown host key, trusts it on request and shows the preflight', async () => {
    const calls: AddHiveRequest[] = [];
    installApi(
      api({
        addHive: async (req) => {
          calls.push(req);
          if (!req.trust_fingerprint) return { status: 'needs_trust', fingerprint: 'SHA256:abcDEF123', key_type: 'ssh-ed25519', host: 'gpu-box' };
          return {
            status: 'added',
            hive: hive({ id: 'gpu-box', kind: 'remote' }),
            preflight: { os: 'linux', arch: 'x64', node_version: 'v22.1.0', node_ok: true, free_disk_bytes: 2 ** 40, gpus: [{ name: 'RTX 4090', memory_total_mb: 24564 }], installed_version: null, problems: ['low disk on /tmp'] },
          };
        },
      }),
      'http',
    );
    act(() => root.render(<ClusterView />));
    act(() => type(byLabel('Host or SSH alias'), 'gpu-box'));
    act(() => type(byLabel('User'), 'me'));
    await act(async () => button('Connect and check').click());
    expect(calls[0]).toEqual({ host: 'gpu-box', user: 'me' });
    expect(container.querySelector('[data-testid="host-fingerprint"]')?.textContent).toBe('SHA256:abcDEF123');
    await act(async () => button('Trust this key and add').click());
    expect(calls[1]).toMatchObject({ host: 'gpu-box', trust_fingerprint: 'SHA256:abcDEF123' });
    expect(container.textContent).toContain('Hive gpu-box added.');
    expect(container.textContent).toContain('RTX 4090 (24564 MB)');
    expect(container.textContent).toContain('low disk on /tmp');
  });

  it('validates the port before calling the host', async () => {
    const addHive = vi.fn();
    installApi(api({ addHive }), 'http');
    act(() => root.render(<ClusterView />));
    act(() => type(byLabel('Host or SSH alias'), 'h'));
    act(() => type(byLabel('Port'), '70000'));
    await act(async () => button('Connect and check').click());
    expect(addHive).not.toHaveBeenCalled();
    expect(container.querySelector('[role="alert"]')?.textContent).toBe('Port must be 1–65535.');
  });
});

/** Settings as the queen answers them (both settings describes use it). */
const settings: Settings = {
  restart_policy: {
    backoff_base_ms: 1000,
    backoff_max_ms: 60000,
    jitter_ratio: 0.2,
    max_restarts: 3,
    stability_window_ms: 300000,
    breaker_failures: 5,
    breaker_window_ms: 300000,
    breaker_cooldown_ms: 60000,
    load_timeout_ms: 120000,
    health_period_ms: 2000,
    health_failures: 3,
  },
  audit_mode: 'local',
  audit_retention_days: null,
  audit_max_bytes: null,
  audit_fail_closed: false,
  queen_port: 7833,
  hive_port: 7835,
  api_token_fingerprint: 'token:9f86d0',
  models_dir: '/m',
  allowed_hosts: [],
  allowed_origins: [],
  downloads_allow_loopback: false,
  downloads_allow_private: true,
};

describe('settings form', () => {

  it('refuses invalid numbers with a message per field, saves valid ones as one patch', async () => {
    const patches: SettingsPatch[] = [];
    installApi(
      api({
        getSettings: async () => settings,
        updateSettings: async (p) => {
          patches.push(p);
          return { ...settings, restart_policy: { ...settings.restart_policy, ...p.restart_policy } };
        },
      }),
      'ipc',
    );
    await act(async () => root.render(<SettingsView />));
    expect(container.querySelector('[data-testid="token-fingerprint"]')?.textContent).toBe('token:9f86d0');
    // The bootstrap admin token can be revealed in Electron too (issue 12: other clients need it).
    expect(container.textContent).toContain('Reveal token');
    act(() => type(byLabel('Jitter (ratio)'), '3'));
    await act(async () => button('Save settings').click());
    expect(patches).toHaveLength(0);
    expect(container.textContent).toContain('Jitter must be between 0 and 0.9.');
    expect(document.activeElement).toBe(byLabel('Jitter (ratio)'));
    act(() => type(byLabel('Jitter (ratio)'), '0.1'));
    act(() => type(byLabel('Breaker failures (failures)'), '2'));
    await act(async () => button('Save settings').click());
    expect(patches[0]).toEqual({
      audit_mode: 'local',
      audit_retention_days: null,
      audit_max_bytes: null,
      audit_fail_closed: false,
      restart_policy: { ...settings.restart_policy, jitter_ratio: 0.1, breaker_failures: 2 },
    });
    expect(container.textContent).toContain('Settings saved.');
  });

  it('audit retention: refuses what the queen would refuse, saves days, MiB as bytes and fail-closed; blank clears a limit', async () => {
    const patches: SettingsPatch[] = [];
    installApi(
      api({
        getSettings: async () => ({ ...settings, audit_retention_days: 90, audit_max_bytes: 512 * 1024 * 1024 }),
        updateSettings: async (p) => {
          patches.push(p);
          return { ...settings, ...p, restart_policy: settings.restart_policy } as Settings;
        },
      }),
      'ipc',
    );
    await act(async () => root.render(<SettingsView />));
    // The current values, as the operator thinks of them (days, MiB).
    expect((byLabel('Keep audit files (days)') as HTMLInputElement).value).toBe('90');
    expect((byLabel('Largest audit chain (MiB)') as HTMLInputElement).value).toBe('512');
    for (const [days, mib] of [['0', '512'], ['2.5', '512'], ['90', 'lots'], ['36501', '']]) {
      act(() => type(byLabel('Keep audit files (days)'), days!));
      act(() => type(byLabel('Largest audit chain (MiB)'), mib!));
      await act(async () => button('Save settings').click());
      expect(patches, `${days} days, ${mib} MiB`).toHaveLength(0);
      expect(container.querySelector('[role="alert"]')?.textContent).toMatch(/whole number/);
    }
    act(() => type(byLabel('Keep audit files (days)'), '30'));
    act(() => type(byLabel('Largest audit chain (MiB)'), ''));
    act(() => [...container.querySelectorAll('label')].find((l) => l.textContent?.includes('Refuse inference while the audit log cannot write'))!.querySelector('input')!.click());
    await act(async () => button('Save settings').click());
    expect(patches).toHaveLength(1);
    expect(patches[0]).toMatchObject({ audit_retention_days: 30, audit_max_bytes: null, audit_fail_closed: true });
  });

  it('shows a designed error state with retry when settings cannot load', async () => {
    let fail = true;
    installApi(api({ getSettings: async () => (fail ? Promise.reject(new ApiError(503, 'HIVE_UNREACHABLE', 'down')) : settings) }), 'ipc');
    await act(async () => root.render(<SettingsView />));
    expect(container.querySelector('[role="alert"]')?.textContent).toContain('down (HIVE_UNREACHABLE, HTTP 503)');
    fail = false;
    await act(async () => button('Try again').click());
    expect(container.querySelector('[data-testid="token-fingerprint"]')).not.toBeNull();
  });
});

describe('models view', () => {
  it('labels the demo model and reports a refused download clearly', async () => {
    installApi(api({ downloadModel: async () => Promise.reject(new ApiError(502, 'UPSTREAM_ERROR', 'getaddrinfo ENOTFOUND huggingface.co')) }), 'http');
    act(() =>
      dispatchClusterEvent(
        ev({ type: 'models_updated', hive_id: 'local', models: [{ name: 'demo.gguf', hive: 'local', size_bytes: 474720, architecture: 'llama', quantization: 'F32', context_length: 512, is_demo: true }] }, 1),
      ),
    );
    act(() => root.render(<ModelsView />));
    expect(container.querySelector('tr[data-model="demo.gguf"]')?.textContent).toContain('demo · random weights');
    act(() => type(byLabel('Source'), 'hf:someone/repo/model.gguf'));
    await act(async () => button('Download').click());
    expect(container.querySelector('[data-testid="download-status"]')?.textContent).toBe(
      'Download could not start: getaddrinfo ENOTFOUND huggingface.co (UPSTREAM_ERROR, HTTP 502)',
    );
  });
});

describe('settings: admin token, connect a client, API keys (issue 12)', () => {
  const ADMIN = 'the-bootstrap-admin-token-0123456789';

  it('reveals and copies the admin token; the connect panel shows the base URL and snippets without the secret', async () => {
    const written: string[] = [];
    Object.defineProperty(navigator, 'clipboard', { value: { writeText: async (t: string) => void written.push(t) }, configurable: true });
    installApi(api({ getSettings: async () => settings, revealAdminToken: async () => ADMIN, listKeys: async () => [] }), 'ipc');
    await act(async () => root.render(<SettingsView />));
    expect(container.querySelector('#token-secret')?.textContent).toBe('');
    await act(async () => button('Reveal token').click());
    expect(container.querySelector('#token-secret')?.textContent).toBe(ADMIN);
    await act(async () => button('Copy token').click());
    expect(written).toEqual([ADMIN]);
    expect(container.textContent).toContain('Token copied.');

    expect(container.querySelector('[data-testid="base-url"]')?.textContent).toBe('http://127.0.0.1:7833/v1');
    const curl = container.querySelector('[data-testid="snippet-curl"]')?.textContent ?? '';
    expect(curl).toContain('curl http://127.0.0.1:7833/v1/chat/completions');
    expect(curl).toContain('Bearer $RBEE_TOKEN');
    await act(async () => button('Python').click());
    expect(container.querySelector('[data-testid="snippet-python"]')?.textContent).toContain('OpenAI(base_url="http://127.0.0.1:7833/v1", api_key=os.environ["RBEE_TOKEN"])');
    await act(async () => button('JavaScript').click());
    expect(container.querySelector('[data-testid="snippet-javascript"]')?.textContent).toContain('baseURL: "http://127.0.0.1:7833/v1", apiKey: process.env.RBEE_TOKEN');
    expect(container.querySelector('[data-testid="connect-client"]')?.textContent).not.toContain(ADMIN);
  });

  it('lists keys with usage, validates and creates a key (secret shown once), revokes after confirming', async () => {
    let keys = [fakeApiKey({ id: 'a1b2c3', name: 'notebook', rpm: 60, usage: { requests: 12, tokens_in: 300, tokens_out: 450, rate_limited: 2, last_used_at: 1_700_000_100_000 } })];
    const createKey = vi.fn(async (request: CreateApiKeyRequest) => {
      const created = { ...fakeApiKey({ id: 'd4e5f6', fingerprint: 'token:d4e5f6', name: request.name, scope: request.scope, models: request.models ?? null }), secret: 'rbee_sk_shown_once' };
      keys = [...keys, created];
      return created;
    });
    const revokeKey = vi.fn(async (id: string) => {
      keys = keys.map((k) => (k.id === id ? { ...k, revoked_at: 1 } : k));
      return keys.find((k) => k.id === id)!;
    });
    installApi(api({ getSettings: async () => settings, listKeys: async () => keys, createKey, revokeKey }), 'ipc');
    await act(async () => root.render(<SettingsView />));
    const row = container.querySelector('[data-testid="key-a1b2c3"]')?.textContent ?? '';
    expect(row).toContain('notebook');
    expect(row).toContain('token:a1b2c3');
    expect(row).toContain('60/min');
    expect(row).toContain('12 (2 limited)');
    expect(row).toContain('300 / 450');

    act(() => type(byLabel('Requests per minute'), 'many'));
    act(() => type(byLabel('Expires in'), 'soon'));
    await act(async () => button('Create key').click());
    expect(createKey).not.toHaveBeenCalled();
    expect(container.textContent).toContain('A name is required.');
    expect(container.textContent).toContain('Requests per minute must be a whole number of at least 1.');
    expect(container.textContent).toContain('Expiry is a number and a unit: 30d, 12h, 90m.');

    act(() => type(byLabel('Name'), 'ci runner'));
    act(() => type(byLabel('Models'), 'tiny.gguf, other.gguf'));
    act(() => type(byLabel('Requests per minute'), '30'));
    act(() => type(byLabel('Expires in'), '30d'));
    await act(async () => button('Create key').click());
    expect(createKey).toHaveBeenCalledWith({ name: 'ci runner', scope: 'inference', models: ['tiny.gguf', 'other.gguf'], rpm: 30, expires_in_ms: 30 * 86_400_000 });
    expect(container.querySelector('[data-testid="created-secret"]')?.textContent).toBe('rbee_sk_shown_once');
    expect(container.querySelector('[data-testid="key-d4e5f6"]')).not.toBeNull();
    await act(async () => button('Done').click());
    expect(container.textContent).not.toContain('rbee_sk_shown_once');

    await act(async () => container.querySelector<HTMLButtonElement>('button[aria-label="Revoke notebook (token:a1b2c3)"]')!.click());
    expect(revokeKey).not.toHaveBeenCalled();
    await act(async () => button('Revoke key').click());
    expect(revokeKey).toHaveBeenCalledWith('a1b2c3');
    expect(container.querySelector('[data-testid="key-a1b2c3"]')?.textContent).toContain('revoked');
  });
});

