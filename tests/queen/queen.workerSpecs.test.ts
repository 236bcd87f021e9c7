import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { WorkerEntry } from '../../src-shared/control/workerSpecTypes.js';
import { startRbee, type RbeeProcess } from '../helpers/childProcess.js';
import { isAlive } from '../helpers/processTree.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { waitFor } from '../helpers/waitFor.js';
import { childPidsOf } from '../hive/hiveHarness.js';

/**
 * Declared workers (issue 11 §2) through a real `rbee queen` process with its real local hive child
 * and real workers on the tiny model: the spec CRUD over HTTP, bad input, and a queen restart on the
 * same data dir that brings the declared workers back with their ids.
 */
const TOKEN = 'queen-specs-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const dataDir = mkdtempSync(join(tmpdir(), 'rbee-queen-specs-'));
const SIZING = { device: 'cpu', threads: 1, ctx: 256, slots: 1 } as const;
let queen: RbeeProcess | undefined;
let url = '';

async function startQueen(): Promise<void> {
  queen = startRbee('queen', ['--port', '0', '--data-dir', dataDir, '--audit', 'disabled'], { LLORCH_API_TOKEN: TOKEN, RBEE_LOG_LEVEL: 'warn' });
  ({ url } = await queen.waitForLine<{ url: string }>((l) => l.event === 'listening'));
}

async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T & { error?: { code: string; message: string } } }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  // Errors and control answers are JSON; a served inference is an SSE stream (its status is what counts here).
  const json = (res.headers.get('content-type') ?? '').includes('application/json') ? (JSON.parse(text) as unknown) : {};
  return { status: res.status, json: json as T & { error?: { code: string; message: string } } };
}

/** Polls the snapshot until `predicate` holds (generous deadline: two cores, real processes). */
function until(predicate: (s: ClusterSnapshot) => boolean, what: string, timeoutMs = 120_000): Promise<ClusterSnapshot> {
  return waitFor(async () => (await api<ClusterSnapshot>('GET', '/v1/control/snapshot')).json, predicate, { what, timeoutMs, intervalMs: 200 });
}

const ready = (w: WorkerInfo | undefined): boolean => w?.state === 'idle' || w?.state === 'busy';
const worker = (s: ClusterSnapshot, id: string): WorkerInfo | undefined => s.workers.find((w) => w.hive === 'local' && w.id === id);

beforeAll(async () => {
  mkdirSync(join(dataDir, 'models'), { recursive: true });
  copyFileSync(await tinyModelPath(), join(dataDir, 'models', 'tiny.gguf'));
  copyFileSync(await tinyModelPath(), join(dataDir, 'models', 'other.gguf'));
  await startQueen();
  await until((s) => s.hives.some((h) => h.id === 'local' && h.state === 'online' && h.devices.length > 0) && s.models.length >= 2, 'local hive online');
}, 180_000);

afterAll(async () => {
  await queen?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('declared workers over HTTP (real queen, hive and workers)', () => {
  it('bad input is a clear 4xx and leaves no spec behind', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['POST', '/v1/control/workers', { hive_id: 'local' }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/control/workers', { hive_id: 'local', model: 'tiny.gguf', slots: 0 }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/control/workers', { hive_id: 'local', model: 'tiny.gguf', id: '../etc' }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/control/workers', { hive_id: 'local', model: 'tiny.gguf', ephemeral: true }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/control/workers', { hive_id: 'local', model: 'tiny.gguf', idle_ttl_ms: 5 }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/control/workers', { hive_id: 'mars', model: 'tiny.gguf' }, 404, 'HIVE_NOT_FOUND'],
      ['POST', '/v1/control/workers', { hive_id: 'local', model: 'missing.gguf', id: 'ghost', ...SIZING }, 404, 'MODEL_NOT_FOUND'],
      ['GET', '/v1/control/hives/local/workers/nobody', undefined, 404, 'WORKER_NOT_FOUND'],
      ['DELETE', '/v1/control/hives/local/workers/nobody', undefined, 404, 'WORKER_NOT_FOUND'],
      ['PUT', '/v1/control/hives/local/workers/nobody', { model: 'tiny.gguf' }, 404, 'WORKER_NOT_FOUND'],
      ['PUT', '/v1/control/hives/local/workers/nobody', { model: 'tiny.gguf', bogus: 1 }, 400, 'INVALID_REQUEST'],
      ['GET', '/v1/control/hives/local/workers/bad%20id', undefined, 400, 'INVALID_REQUEST'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await api(method, path, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      expect(res.json.error?.code).toBe(code);
    }
    // The refused spawn undid its declaration.
    expect((await api('GET', '/v1/control/hives/local/workers/ghost')).status).toBe(404);
    expect((await api<{ workers: WorkerEntry[] }>('GET', '/v1/control/workers')).json.workers).toEqual([]);
  }, 120_000);

  it('two declared workers start, persist (0600) and come back with their ids after a queen restart', async () => {
    for (const [id, model] of [
      ['spec-a', 'tiny.gguf'],
      ['spec-b', 'other.gguf'],
    ] as const) {
      const res = await api<WorkerEntry>('POST', '/v1/control/workers', { hive_id: 'local', id, model, ...SIZING });
      expect(res.status, JSON.stringify(res.json)).toBe(201);
      expect(res.json).toMatchObject({ hive: 'local', id, spec: { id, hive: 'local', model, enabled: true, ephemeral: false, hot_spare: false }, worker: { id, model } });
    }
    expect((await api('POST', '/v1/control/workers', { hive_id: 'local', id: 'spec-a', model: 'tiny.gguf', ...SIZING })).status).toBe(409);
    await until((s) => ready(worker(s, 'spec-a')) && ready(worker(s, 'spec-b')), 'both declared workers ready');

    const file = join(dataDir, 'worker-specs.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { specs: Array<{ id: string }> };
    expect(stored.specs.map((s) => s.id).sort()).toEqual(['spec-a', 'spec-b']);

    const listed = (await api<{ workers: WorkerEntry[] }>('GET', '/v1/control/workers')).json.workers;
    expect(listed.map((e) => [e.id, e.spec?.model, e.worker?.model])).toEqual([
      ['spec-a', 'tiny.gguf', 'tiny.gguf'],
      ['spec-b', 'other.gguf', 'other.gguf'],
    ]);

    await queen!.stop();
    await startQueen();
    const back = await until((s) => ready(worker(s, 'spec-a')) && ready(worker(s, 'spec-b')), 'declared workers back after the restart', 150_000);
    expect(back.workers.map((w) => w.id).sort()).toEqual(['spec-a', 'spec-b']);
    const answer = await api<{ tokens_out?: number }>('POST', '/v1/inference', { model: 'other.gguf', prompt: 'hello', max_tokens: 4 });
    expect(answer.status).toBe(200);
  }, 300_000);

  it('the local hive SIGKILLed: once the queen has restarted it, the declared workers are back with their ids', async () => {
    const before = await until((s) => ready(worker(s, 'spec-a')) && ready(worker(s, 'spec-b')), 'both ready');
    const hivePid = childPidsOf(queen!.pid).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('hive'));
    expect(hivePid).toBeGreaterThan(0);
    process.kill(hivePid!, 'SIGKILL');
    const oldPids = ['spec-a', 'spec-b'].map((id) => worker(before, id)!.pid);
    const back = await until(
      (s) => ['spec-a', 'spec-b'].every((id, i) => ready(worker(s, id)) && worker(s, id)!.pid !== oldPids[i]),
      'declared workers back after the hive restart',
      150_000,
    );
    expect(back.workers.map((w) => w.id).sort()).toEqual(['spec-a', 'spec-b']);
    // The old workers went with their hive (none is left behind).
    for (const pid of oldPids) await expect.poll(() => isAlive(pid!), { timeout: 30_000, interval: 100 }).toBe(false);
  }, 180_000);

  it('a PUT that changes the model replaces the worker (same id, new process)', async () => {
    const before = worker(await until((s) => ready(worker(s, 'spec-b')), 'spec-b ready'), 'spec-b')!;
    const read = await api<WorkerEntry>('GET', '/v1/control/hives/local/workers/spec-b');
    expect(read.status).toBe(200);
    // What GET returned can be sent back with one field changed.
    const res = await api<WorkerEntry>('PUT', '/v1/control/hives/local/workers/spec-b', { ...read.json.spec, model: 'tiny.gguf' });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.spec).toMatchObject({ id: 'spec-b', model: 'tiny.gguf' });
    const after = worker(await until((s) => ready(worker(s, 'spec-b')) && worker(s, 'spec-b')?.model === 'tiny.gguf', 'spec-b replaced'), 'spec-b')!;
    expect(after.pid).not.toBe(before.pid);
    await expect.poll(() => isAlive(before.pid!), { timeout: 30_000, interval: 100 }).toBe(false);
    expect((await api('PUT', '/v1/control/hives/local/workers/spec-b', { id: 'other-id', model: 'tiny.gguf' })).status).toBe(400);
    expect((await api('PUT', '/v1/control/hives/local/workers/spec-b', { model: 'missing.gguf' })).json.error?.code).toBe('MODEL_NOT_FOUND');
  }, 180_000);

  it('deleting a spec stops its worker and its entry disappears; a disabled spec answers MODEL_STOPPED', async () => {
    const victim = worker(await until((s) => ready(worker(s, 'spec-a')), 'spec-a ready'), 'spec-a')!;
    expect((await api('DELETE', '/v1/control/hives/local/workers/spec-a')).status).toBe(204);
    await expect.poll(() => isAlive(victim.pid!), { timeout: 30_000, interval: 100 }).toBe(false);
    expect((await api('GET', '/v1/control/hives/local/workers/spec-a')).status).toBe(404);
    await until((s) => !worker(s, 'spec-a'), 'spec-a entry gone');
    const stored = JSON.parse(readFileSync(join(dataDir, 'worker-specs.json'), 'utf8')) as { specs: Array<{ id: string }> };
    expect(stored.specs.map((s) => s.id)).toEqual(['spec-b']);

    // No worker serves other.gguf now: a disabled spec of it is the operator's stop, not an on-demand start.
    const disabled = await api<WorkerEntry>('POST', '/v1/control/workers', { hive_id: 'local', id: 'spec-c', model: 'other.gguf', enabled: false, ...SIZING });
    expect(disabled.status).toBe(201);
    expect(disabled.json.worker).toBeNull();
    const refused = await api('POST', '/v1/inference', { model: 'other.gguf', prompt: 'hello', max_tokens: 4 });
    expect(refused.status).toBe(503);
    expect(refused.json.error?.code).toBe('MODEL_STOPPED');
    expect((await api<ClusterSnapshot>('GET', '/v1/control/snapshot')).json.workers.some((w) => w.model === 'other.gguf')).toBe(false);
    // Start enables the spec and starts its worker under the spec's id.
    expect((await api('POST', '/v1/control/hives/local/workers/spec-c/start', {})).status).toBe(202);
    await until((s) => ready(worker(s, 'spec-c')), 'spec-c started');
    expect((await api<WorkerEntry>('GET', '/v1/control/hives/local/workers/spec-c')).json.spec?.enabled).toBe(true);
  }, 180_000);
});
