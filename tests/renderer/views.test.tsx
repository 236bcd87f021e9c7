// @vitest-environment jsdom
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import { installApi } from '../../src-renderer/bridge/apiRegistry.js';
import { App } from '../../src-renderer/App.js';
import { dispatchClusterEvent, useRbee } from '../../src-renderer/stores/store.js';
import { ModelsView } from '../../src-renderer/views/ModelsView.js';
import { PoolsView } from '../../src-renderer/views/PoolsView.js';
import type { PoolInfo } from '../../src-shared/control/poolSchemas.js';
import { WorkersView } from '../../src-renderer/views/WorkersView.js';
import type { WorkerSpec } from '../../src-shared/control/controlSchemas.js';
import { auditRecord, ev, hive, worker } from './fixtures.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let container: HTMLDivElement;
let root: Root;

function fakeApi(patch: Partial<ControlApi> = {}): ControlApi {
  const notUsed = () => Promise.reject(new Error('not used'));
  return {
    getSnapshot: notUsed,
    subscribe: () => () => undefined,
    spawnWorker: notUsed,
    listWorkerSpecs: async () => [],
    createWorkerSpec: notUsed,
    getWorkerSpec: notUsed,
    replaceWorkerSpec: notUsed,
    deleteWorkerSpec: notUsed,
    stopWorker: vi.fn(async () => undefined),
    startWorker: vi.fn(async () => undefined),
    restartWorker: vi.fn(async () => undefined),
    resetBreaker: vi.fn(async () => undefined),
    getWorkerLogs: async (_hive, id) => ({ worker_id: id, lines: [] }),
    listModels: async () => [],
    downloadModel: notUsed,
    uploadModel: notUsed,
    deleteModel: vi.fn(async () => undefined),
    listHives: async () => [],
    addHive: notUsed,
    removeHive: notUsed,
    listPools: async () => [],
    testPool: notUsed,
    resetPoolBreaker: notUsed,
    queryAudit: async () => ({ records: [], next_cursor: null }),
    verifyAudit: async () => ({ ok: true, entries: 3, files: 1 }),
    getSettings: notUsed,
    updateSettings: notUsed,
    listKeys: async () => [],
    createKey: notUsed,
    revokeKey: notUsed,
    revealAdminToken: async () => 'admin-token-for-tests',
    infer: notUsed,
    ...patch,
  };
}

function render(node: React.ReactNode) {
  act(() => root.render(node));
}

const text = (sel: string) => container.querySelector(sel)?.textContent ?? null;
const button = (label: string) => {
  const b = [...container.querySelectorAll('button')].find((x) => x.getAttribute('aria-label') === label || x.textContent === label);
  if (!b) throw new Error(`no button ${label}`);
  return b;
};

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(100_000);
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(() => {
  act(() => root.unmount());
  container.remove();
  useRbee.setState(useRbee.getInitialState(), true);
  vi.useRealTimers();
  window.location.hash = '';
});

describe('WorkersView', () => {
  it('shows a designed loading state before the snapshot, then rows', () => {
    installApi(fakeApi(), 'http');
    render(<WorkersView />);
    expect(container.textContent).toContain('Loading workers');
    act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot: { hives: [hive()], workers: [], models: [] } }, 0, 100_000)));
    expect(container.textContent).toContain('No workers yet');
  });

  it('counts down to the next restart in backoff and to half-open for an open breaker, live', () => {
    installApi(fakeApi(), 'http');
    const w = worker({
      state: 'backoff',
      restart_count: 2,
      restart_attempts: 2,
      next_restart_at: 104_000,
      breaker: { state: 'open', failures_in_window: 5, opens_until: 165_000 },
      last_exit: { code: null, signal: 'SIGKILL', stderr_tail: 'boom', at: 99_000, reason: 'exit' },
    });
    act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot: { hives: [hive()], workers: [w], models: [] } }, 0, 100_000)));
    render(<WorkersView />);
    expect(text('[data-testid="restart-countdown"]')).toBe('restart in 4s');
    expect(text('[data-testid="breaker-countdown"]')).toContain('half-open in 1m 05s');
    expect(text('[data-testid="restart-count"]')).toBe('2');
    expect(text('[data-testid="restart-attempts"]')).toBe('2 in a row');
    // State is text as well as colour.
    expect(text('[data-testid="worker-state"] .badge')).toContain('backoff');
    expect(text('details.last-exit summary')).toContain('SIGKILL');
    expect(text('pre.stderr')).toBe('boom');
    act(() => vi.advanceTimersByTime(2_000));
    expect(text('[data-testid="restart-countdown"]')).toBe('restart in 2s');
    expect(text('[data-testid="breaker-countdown"]')).toContain('half-open in 1m 03s');
  });

  it('asks for confirmation before stopping, and resets a breaker directly', async () => {
    const api = fakeApi();
    installApi(api, 'http');
    const w = worker({ breaker: { state: 'open', failures_in_window: 5, opens_until: 200_000 } });
    act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot: { hives: [hive()], workers: [w], models: [] } }, 0, 100_000)));
    render(<WorkersView />);
    act(() => button('Stop w1').click());
    expect(api.stopWorker).not.toHaveBeenCalled();
    const dialog = container.querySelector('dialog');
    expect(dialog?.textContent).toContain('Stop worker w1?');
    await act(async () => button('Stop worker').click());
    expect(api.stopWorker).toHaveBeenCalledWith('local', 'w1');
    expect(container.querySelector('dialog')).toBeNull();
    await act(async () => button('Reset breaker w1').click());
    expect(api.resetBreaker).toHaveBeenCalledWith('local', 'w1');
    expect(container.textContent).toContain('Reset breaker sent to w1.');
  });

  it('shows each spec (enabled, on demand, TTL), a spec without a worker, and deletes an entry after confirmation', async () => {
    const api = fakeApi({ deleteWorkerSpec: vi.fn(async () => undefined) });
    installApi(api, 'http');
    const spec = (id: string, extra: Partial<WorkerSpec> = {}): WorkerSpec => ({ id, hive: 'local', model: 'rbee-demo-tiny.gguf', enabled: true, ephemeral: false, hot_spare: false, ...extra });
    const snapshot = {
      hives: [hive()],
      workers: [worker({ id: 'w1' }), worker({ id: 'ondemand-x', state: 'failed' }), worker({ id: 'orphan', state: 'failed' })],
      models: [],
      specs: [spec('w1', { idle_ttl_ms: null }), spec('ondemand-x', { ephemeral: true, idle_ttl_ms: 600_000 }), spec('off', { enabled: false })],
    };
    act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot }, 0, 100_000)));
    render(<WorkersView />);
    const specOf = (selector: string) => container.querySelector(`${selector} [data-testid="spec-state"]`)?.textContent;
    expect(specOf('tr[data-worker-id="w1"]')).toBe('enabled');
    expect(text('tr[data-worker-id="w1"] [data-testid="spec-ttl"]')).toBe('no idle TTL');
    expect(specOf('tr[data-worker-id="ondemand-x"]')).toBe('on demand');
    expect(text('tr[data-worker-id="ondemand-x"] [data-testid="spec-ttl"]')).toBe('idle TTL 10 min');
    expect(specOf('tr[data-worker-id="orphan"]')).toBe('undeclared');
    // A disabled spec has no process, but it has a row: it can be started or deleted.
    expect(specOf('tr[data-spec-id="off"]')).toBe('disabled');
    expect(container.querySelector('tr[data-spec-id="off"]')?.textContent).toContain('stopped by an operator');

    act(() => button('Delete orphan').click());
    expect(api.deleteWorkerSpec).not.toHaveBeenCalled();
    expect(container.querySelector('dialog')?.textContent).toContain('its entry and its spec are removed');
    await act(async () => button('Delete worker').click());
    expect(api.deleteWorkerSpec).toHaveBeenCalledWith('local', 'orphan');
    expect(container.textContent).toContain('Deleted orphan.');

    // The stream removes the spec row; a new spec appears.
    act(() => dispatchClusterEvent(ev({ type: 'spec_removed', hive_id: 'local', spec_id: 'off' }, 1, 100_000)));
    expect(container.querySelector('tr[data-spec-id="off"]')).toBeNull();
    act(() => dispatchClusterEvent(ev({ type: 'spec_updated', spec: spec('new', { hot_spare: true }) }, 2, 100_000)));
    expect(text('tr[data-spec-id="new"] [data-testid="spec-ttl"]')).toContain('hot spare');
  });
});

describe('ModelsView', () => {
  it('a model no worker uses can be deleted after confirmation; one in use shows "in use" and no Delete', async () => {
    const api = fakeApi({ deleteModel: vi.fn(async () => undefined) });
    installApi(api, 'http');
    const model = (name: string) => ({ name, hive: 'local', size_bytes: 1024, architecture: 'llama', quantization: 'F16', context_length: 512, is_demo: false });
    const snapshot = { hives: [hive()], workers: [worker({ id: 'w1', model: 'used.gguf' })], models: [model('used.gguf'), model('spare.gguf')] };
    act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot }, 0, 100_000)));
    render(<ModelsView />);
    expect(container.querySelector('tr[data-model="used.gguf"]')?.textContent).toContain('in use');
    expect(container.querySelector('tr[data-model="used.gguf"] button')).toBeNull();
    act(() => button('Delete spare.gguf from hive local').click());
    expect(api.deleteModel).not.toHaveBeenCalled();
    expect(container.querySelector('dialog')?.textContent).toContain("removed from hive local's models folder");
    await act(async () => button('Delete the file').click());
    expect(api.deleteModel).toHaveBeenCalledWith('local', 'spare.gguf');
    expect(text('[data-testid="model-delete-status"]')).toBe('Deleted spare.gguf from hive local.');
  });
});

describe('PoolsView', () => {
  it('says where each key is kept, and warns about a session-only or lost key', async () => {
    const pool = (name: string, key_storage: PoolInfo['key_storage'], key_fingerprint: string | null): PoolInfo => ({
      name,
      base_url: `http://${name}.lan:8000/v1`,
      key_fingerprint,
      key_storage,
      health: 'online',
      breaker: { state: 'closed', failures_in_window: 0, opens_until: null },
      models: [],
      in_flight: 1,
      queued: 2,
      latency_ms: 3,
      last_check_at: null,
      last_error: null,
      tuning: { connect_timeout_ms: 5_000, first_byte_timeout_ms: 60_000, max_concurrent: 1, health_period_ms: 10_000, breaker_failures: 3, breaker_window_ms: 60_000, breaker_cooldown_ms: 30_000, max_body_bytes: 1024 },
      ca_file: null,
      models_filter: null,
      fallback: false,
    });
    const pools = [pool('sealed', 'sealed', 'token:aaaaaa'), pool('session', 'session', 'token:bbbbbb'), pool('lost', 'lost', null), pool('nokey', null, null)];
    installApi(fakeApi({ listPools: async () => pools }), 'http');
    await act(async () => render(<PoolsView />));
    const storage = (name: string) => container.querySelector(`tr[data-pool="${name}"] [data-key-storage]`);
    expect(storage('sealed')?.textContent).toBe('sealed (OS keychain)');
    expect(storage('sealed')?.className).not.toContain('error-text');
    expect(storage('session')?.textContent).toContain('this session only');
    expect(storage('session')?.className).toContain('error-text');
    expect(storage('lost')?.textContent).toContain('add the pool again');
    expect(storage('nokey')).toBeNull();
    expect(container.querySelector('tr[data-pool="session"]')?.textContent).toContain('2 queued');
  });
});

describe('ModelsView: split GGUFs', () => {
  it('a split model is one row saying how many files, deleted whole; a multi-shard download is one job with summed bytes', async () => {
    const api = fakeApi({ deleteModel: vi.fn(async () => undefined) });
    installApi(api, 'http');
    const name = 'big-Q4_K_M-00001-of-00003.gguf';
    const split = { name, hive: 'local', size_bytes: 3 * 1024 * 1024, architecture: 'llama', quantization: 'Q4_K_M', context_length: 4096, is_demo: false, parts: 3 };
    act(() => dispatchClusterEvent(ev({ type: 'snapshot', snapshot: { hives: [hive()], workers: [], models: [split] } }, 0, 100_000)));
    const progress = { hive_id: 'local', download_id: 'd1', source: 'hf:acme/Big-GGUF:Q4_K_M', received_bytes: 1024 * 1024, total_bytes: 3 * 1024 * 1024, state: 'running' as const, message: null, files: { done: 1, total: 3 } };
    act(() => dispatchClusterEvent(ev({ type: 'download_progress', progress }, 1, 100_000)));
    render(<ModelsView />);
    expect(container.querySelectorAll('tr[data-model]')).toHaveLength(1);
    expect(text(`tr[data-model="${name}"] [data-testid="model-parts"]`)).toBe('(3 files)');
    const job = container.querySelectorAll('ul.downloads li');
    expect(job).toHaveLength(1);
    expect(job[0]!.textContent).toContain('1 of 3 files');
    expect(job[0]!.querySelector('progress')?.getAttribute('max')).toBe(String(3 * 1024 * 1024));
    act(() => button(`Delete ${name} from hive local`).click());
    expect(container.querySelector('dialog')?.textContent).toContain('All 3 shard files of this split model are removed');
    await act(async () => button('Delete the 3 files').click());
    expect(api.deleteModel).toHaveBeenCalledWith('local', name);
  });
});

describe('App shell', () => {
  it('shows the login form in web mode without a token', () => {
    installApi(fakeApi(), 'http');
    useRbee.getState().setBridge('http');
    useRbee.getState().setAuth('needed');
    render(<App />);
    expect(container.querySelector('input[type="password"]')).not.toBeNull();
    expect(container.querySelector('label')?.textContent).toBe('API token');
  });

  it('renders the audit live tail and the verify status', async () => {
    installApi(fakeApi(), 'ipc');
    useRbee.getState().setBridge('ipc');
    useRbee.getState().setAuth('ok');
    window.location.hash = '#/audit';
    await act(async () => render(<App />));
    expect(container.textContent).toContain('No audit events yet');
    act(() => dispatchClusterEvent(ev({ type: 'audit', record: auditRecord({ event_type: 'auth_failure', actor: 'token:9f86d0' }) }, 1)));
    expect(container.querySelector('tr[data-event-type="auth_failure"]')?.textContent).toContain('token:9f86d0');
    await act(async () => button('Verify chain').click());
    expect(text('[data-testid="verify-status"]')).toContain('Chain intact: 3 entries in 1 files.');
  });

  it("verify shows each chain's verdict, as `rbee audit verify` does", async () => {
    const chain = (name: string, verdict: 'OK' | 'TRUNCATED' | 'UNSEALED-TAIL', detail?: string) => ({
      chain: name,
      verdict,
      entries: 4,
      head_seq: 4,
      head_hash: 'a'.repeat(64),
      ...(detail ? { detail } : {}),
    });
    const result = {
      ok: false as const,
      entries: 8,
      files: 2,
      error: { kind: 'TRUNCATED' as const, file: '', line: 0, audit_id: null },
      chains: [chain('hive:gpu1', 'TRUNCATED', 'a witness saw seq 9; the chain ends at seq 4'), chain('queen', 'UNSEALED-TAIL')],
    };
    installApi(fakeApi({ verifyAudit: async () => result }), 'ipc');
    useRbee.getState().setBridge('ipc');
    useRbee.getState().setAuth('ok');
    window.location.hash = '#/audit';
    await act(async () => render(<App />));
    await act(async () => button('Verify chain').click());
    expect(text('[data-testid="verify-status"]')).toContain('Chain BROKEN (TRUNCATED)');
    const items = [...container.querySelectorAll('[data-testid="verify-chains"] li')];
    expect(items.map((li) => li.getAttribute('data-verdict'))).toEqual(['TRUNCATED', 'UNSEALED-TAIL']);
    expect(items[0]?.textContent).toContain('hive:gpu1 · seq 4 · a witness saw seq 9');
  });

  it('shows the disconnection banner while the stream is down', () => {
    installApi(fakeApi(), 'ipc');
    useRbee.getState().setBridge('ipc');
    useRbee.getState().setAuth('ok');
    act(() => useRbee.getState().setConnectionState('open'));
    render(<App />);
    expect(text('[data-testid="connection-state"]')).toContain('Live');
    act(() => useRbee.getState().setConnectionState('reconnecting'));
    expect(text('[data-testid="connection-state"]')).toContain('Reconnecting');
    expect(container.querySelector('[data-testid="disconnected-banner"]')).not.toBeNull();
    act(() => useRbee.getState().setConnectionState('open'));
    expect(container.querySelector('[data-testid="disconnected-banner"]')).toBeNull();
  });
});
