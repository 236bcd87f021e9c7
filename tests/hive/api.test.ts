import { mkdtemp, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelInfo, DeviceInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { api, EventStream, startTestHive, tinySpawn, type TestHive } from './hiveHarness.js';
import { parsePrometheusText, sampleValue } from './prometheusText.js';

type ErrorBody = { error: { code: string; message: string } };

describe('hive HTTP API', () => {
  let t: TestHive;
  let events: EventStream;
  let outside: string;

  beforeAll(async () => {
    t = await startTestHive({ policy: { health_period_ms: 300, backoff_base_ms: 100 } });
    events = new EventStream(t.hive.url);
    await events.opened;
    outside = await mkdtemp(join(tmpdir(), 'rbee-outside-'));
    await copyFile(await tinyModelPath(), join(outside, 'secret.gguf'));
    await symlink(join(outside, 'secret.gguf'), join(t.modelsDir, 'escape.gguf'));
    await writeFile(join(t.modelsDir, 'fake.gguf'), 'this is not a model');
    await writeFile(join(t.modelsDir, 'notes.txt'), 'hello');
  });
  afterAll(async () => {
    events?.close();
    await t?.close();
    await rm(outside, { recursive: true, force: true });
  });

  it('auth: /v1/health and /health are public, the rest needs the bearer token', async () => {
    expect((await fetch(`${t.hive.url}/v1/health`)).status).toBe(200);
    expect((await fetch(`${t.hive.url}/health`)).status).toBe(200);
    const none = await fetch(`${t.hive.url}/v1/workers`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as ErrorBody).error.code).toBe('MISSING_API_KEY');
    const wrong = await api<ErrorBody>(t.hive.url, 'GET', '/v1/workers', undefined, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('INVALID_API_KEY');
    expect((await fetch(`${t.hive.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${t.hive.url}/v1/events`)).status).toBe(401);
  });

  it('catalog: lists GGUF files with header data; skips non-models', async () => {
    const res = await t.api<{ models: ModelInfo[] }>('GET', '/v1/models');
    expect(res.status).toBe(200);
    const tiny = res.body.models.find((m) => m.name === 'tiny.gguf');
    expect(tiny).toMatchObject({ hive: 'local', architecture: 'llama', quantization: 'F32', context_length: 512, is_demo: true });
    expect(tiny!.size_bytes).toBeGreaterThan(100_000);
    const names = res.body.models.map((m) => m.name);
    expect(names).not.toContain('fake.gguf');
    expect(names).not.toContain('notes.txt');
    expect(names).not.toContain('escape.gguf');
  });

  it('devices: what node-llama-cpp reports (CPU here)', async () => {
    const res = await t.api<{ devices: DeviceInfo[] }>('GET', '/v1/devices');
    expect(res.status).toBe(200);
    const cpu = res.body.devices.find((d) => d.type === 'cpu');
    expect(cpu!.memory_total).toBeGreaterThan(0);
    expect(cpu!.memory_free).toBeGreaterThan(0);
  });

  it('bad input on every route → 4xx JSON errors, and the hive keeps serving (acceptance 7)', async () => {
    const cases: Array<[string, string, unknown, number, string, RegExp?]> = [
      ['POST', '/v1/workers', '{"model": "tiny.gguf",', 400, 'INVALID_JSON'],
      ['POST', '/v1/workers', '[1,2]', 400, 'INVALID_REQUEST'],
      ['POST', '/v1/workers', {}, 400, 'INVALID_REQUEST', /model/],
      ['POST', '/v1/workers', { model: 'tiny.gguf', colour: 'red' }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/workers', { model: 'tiny.gguf', slots: 0 }, 400, 'INVALID_REQUEST', /slots/],
      ['POST', '/v1/workers', { model: 'tiny.gguf', device: 'tpu' }, 400, 'INVALID_REQUEST', /device/],
      ['POST', '/v1/workers', { model: 'tiny.gguf', ctx: 'big' }, 400, 'INVALID_REQUEST', /ctx/],
      ['POST', '/v1/workers', { model: '../../etc/passwd' }, 400, 'INVALID_REQUEST', /not a path/],
      ['POST', '/v1/workers', { model: '/etc/passwd' }, 400, 'INVALID_REQUEST', /not a path/],
      ['POST', '/v1/workers', { model: 'sub/tiny.gguf' }, 400, 'INVALID_REQUEST', /not a path/],
      ['POST', '/v1/workers', { model: '..\\tiny.gguf' }, 400, 'INVALID_REQUEST', /not a path/],
      ['POST', '/v1/workers', { model: '.hidden.gguf' }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/workers', { model: 'notes.txt' }, 400, 'INVALID_REQUEST', /only \.gguf/],
      ['POST', '/v1/workers', { model: 'escape.gguf' }, 400, 'INVALID_REQUEST', /outside the models folder/],
      ['POST', '/v1/workers', { model: 'fake.gguf' }, 400, 'INVALID_REQUEST', /not a GGUF file/],
      ['POST', '/v1/workers', { model: 'missing.gguf' }, 404, 'MODEL_NOT_FOUND'],
      ['POST', '/v1/workers', { model: 'tiny.gguf', id: '../x' }, 400, 'INVALID_REQUEST', /worker id/],
      ['POST', '/v1/workers', { model: 'tiny.gguf', hive_id: 'elsewhere' }, 400, 'INVALID_REQUEST', /elsewhere/],
      ['POST', '/v1/workers', { model: 'tiny.gguf', policy: { backoff_base_ms: -5 } }, 400, 'INVALID_REQUEST', /backoff_base_ms must be at least 1 ms/],
      ['POST', '/v1/workers', { model: 'tiny.gguf', policy: { jitter_ratio: 3 } }, 400, 'INVALID_REQUEST', /jitter_ratio/],
      ['POST', '/v1/workers', { model: 'tiny.gguf', policy: { backoff_base_ms: 9000, backoff_max_ms: 10 } }, 400, 'INVALID_REQUEST', /must not be below/],
      ['POST', '/v1/workers', { model: 'tiny.gguf', idle_ttl_ms: 5 }, 400, 'INVALID_REQUEST', /idle_ttl_ms/],
      ['PATCH', '/v1/policy', { max_restarts: 'three' }, 400, 'INVALID_REQUEST', /max_restarts must be a number/],
      ['PATCH', '/v1/policy', { health_failures: 0 }, 400, 'INVALID_REQUEST', /health_failures/],
      ['PATCH', '/v1/policy', { not_a_field: 1 }, 400, 'INVALID_REQUEST', /not_a_field/],
      ['GET', '/v1/workers/nope', undefined, 404, 'WORKER_NOT_FOUND'],
      ['DELETE', '/v1/workers/nope', undefined, 404, 'WORKER_NOT_FOUND'],
      ['POST', '/v1/workers/nope/stop', undefined, 404, 'WORKER_NOT_FOUND'],
      ['POST', '/v1/workers/nope/start', undefined, 404, 'WORKER_NOT_FOUND'],
      ['POST', '/v1/workers/nope/restart', undefined, 404, 'WORKER_NOT_FOUND'],
      ['POST', '/v1/workers/nope/reset-breaker', undefined, 404, 'WORKER_NOT_FOUND'],
      ['GET', '/v1/workers/nope/credentials', undefined, 404, 'WORKER_NOT_FOUND'],
      ['POST', '/v1/workers/%2e%2e%2fetc/stop', undefined, 404, 'WORKER_NOT_FOUND'],
      ['POST', '/v1/models/download', { source: 'ftp://example.com/x.gguf' }, 400, 'INVALID_REQUEST', /scheme/],
      ['POST', '/v1/models/download', { source: 'hf:justauser' }, 400, 'INVALID_REQUEST', /hf:/],
      ['POST', '/v1/models/download', { source: 'hf:u/r/../../x.gguf' }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/models/download', { source: 'http://127.0.0.1:9/m.gguf', name: '../evil.gguf' }, 400, 'INVALID_REQUEST', /not a path/],
      // Loopback sources are refused (403, SSRF) before the name is looked at; a LAN address passes that check
      // and the existing name answers 409 before anything is fetched.
      ['POST', '/v1/models/download', { source: 'http://127.0.0.1:9/m.gguf', name: 'tiny.gguf' }, 403, 'DOWNLOAD_REFUSED'],
      ['POST', '/v1/models/download', { source: 'http://10.0.0.1:9/m.gguf', name: 'tiny.gguf' }, 409, 'CONFLICT'],
      ['POST', '/v1/models/download', { source: 'not a url' }, 400, 'INVALID_REQUEST'],
      ['POST', '/v1/models/download', {}, 400, 'INVALID_REQUEST', /source/],
      ['GET', '/v1/nothing-here', undefined, 404, 'NOT_FOUND'],
    ];
    for (const [method, path, body, status, code, message] of cases) {
      const res = await t.api<ErrorBody>(method, path, body);
      const label = `${method} ${path} ${typeof body === 'string' ? body : JSON.stringify(body)}`;
      expect(res.status, label).toBe(status);
      expect(res.body.error?.code, label).toBe(code);
      if (message) expect(res.body.error.message, label).toMatch(message);
    }
    expect((await fetch(`${t.hive.url}/v1/health`)).status).toBe(200);
    expect((await t.api<{ workers: WorkerInfo[] }>('GET', '/v1/workers')).body.workers).toEqual([]);
  });

  it('operator actions, idle TTL, metrics (acceptance 6) on real workers', async () => {
    const spawned = await t.api<WorkerInfo>('POST', '/v1/workers', tinySpawn({ id: 'ops' }));
    expect(spawned.status).toBe(201);
    const idleSpawn = await t.api<WorkerInfo>('POST', '/v1/workers', tinySpawn({ id: 'sleepy', idle_ttl_ms: 1_000 }));
    expect(idleSpawn.status).toBe(201);
    expect((await t.api<ErrorBody>('POST', '/v1/workers', tinySpawn({ id: 'ops' }))).status).toBe(409);
    const ready = await events.waitForWorker('ops', (w) => w.state === 'idle', 60_000);

    // Idle TTL: stopped without requests, as a stop (not a failure).
    const sleepy = await events.waitForWorker('sleepy', (w) => w.state === 'stopped', 60_000);
    expect(sleepy.restart_count).toBe(0);
    expect(sleepy.last_exit?.reason).toBe('operator');
    expect(t.audit.events.find((e) => e.worker_id === 'sleepy' && e.event_type === 'worker_stopped')?.reason).toBe('idle_ttl');

    // A crash → restart, for the metrics.
    let mark = events.events.length;
    process.kill(ready.pid!, 'SIGKILL');
    const back = await events.waitForWorker('ops', (w) => w.state === 'idle', 60_000, mark);
    expect(back.restart_count).toBe(1);

    const metrics = await t.api<string>('GET', '/metrics');
    expect(metrics.status).toBe(200);
    const families = parsePrometheusText(metrics.body);
    expect(families.get('rbee_hive_worker_restarts_total')?.type).toBe('counter');
    expect(sampleValue(families, 'rbee_hive_worker_restarts_total', { worker: 'ops' })).toBe(1);
    expect(families.get('rbee_hive_breaker_state')?.type).toBe('gauge');
    expect(sampleValue(families, 'rbee_hive_breaker_state', { worker: 'ops' })).toBe(0);
    expect(sampleValue(families, 'rbee_hive_workers', { state: 'idle' })).toBe(1);
    expect(sampleValue(families, 'rbee_hive_workers', { state: 'stopped' })).toBe(1);
    expect(sampleValue(families, 'rbee_hive_worker_failures_total', { worker: 'ops', reason: 'exit' })).toBe(1);
    expect(families.has('rbee_hive_health_check_failures_total')).toBe(true);

    // stop → stopped (no restart follows), start → ready, restart → a new pid, delete → removed.
    mark = events.events.length;
    const stopped = await t.api<WorkerInfo>('POST', '/v1/workers/ops/stop');
    expect(stopped.status).toBe(200);
    expect(stopped.body.state).toBe('stopped');
    expect(stopped.body.pid).toBeNull();
    expect((await t.api<ErrorBody>('POST', '/v1/workers/ops/stop')).status).toBe(200); // idempotent
    const started = await t.api<WorkerInfo>('POST', '/v1/workers/ops/start');
    expect(started.status).toBe(202);
    expect((await t.api<ErrorBody>('POST', '/v1/workers/ops/start')).status).toBe(409);
    const up = await events.waitForWorker('ops', (w) => w.state === 'idle', 60_000, mark);
    mark = events.events.length;
    const restarted = await t.api<WorkerInfo>('POST', '/v1/workers/ops/restart');
    expect(restarted.status).toBe(202);
    expect(restarted.body.pid).not.toBe(up.pid);
    await events.waitForWorker('ops', (w) => w.state === 'idle', 60_000, mark);
    // Operator actions are attributed to the caller's token fingerprint.
    const stoppedBy = t.audit.events.find((e) => e.worker_id === 'ops' && e.event_type === 'worker_stopped' && e.reason === 'operator');
    expect(stoppedBy?.actor).toMatch(/^token:[0-9a-f]{6}$/);
    const deleted = await t.api('DELETE', '/v1/workers/ops');
    expect(deleted.status).toBe(204);
    await events.waitFor((e) => e.type === 'worker_removed' && e.worker_id === 'ops', 30_000);
    expect((await t.api('GET', '/v1/workers/ops')).status).toBe(404);
  }, 180_000);

  it('a reconnecting event client starts from a snapshot of everything', async () => {
    const again = new EventStream(t.hive.url);
    await again.opened;
    const first = await again.waitFor((e) => e.type === 'snapshot', 30_000);
    expect(again.events[0]).toBe(first);
    if (first.type !== 'snapshot') throw new Error('unreachable');
    expect(first.snapshot.hives[0]).toMatchObject({ id: 'local', kind: 'local', state: 'online' });
    expect(first.snapshot.models.map((m) => m.name)).toContain('tiny.gguf');
    expect(first.snapshot.workers.map((w) => w.id)).toContain('sleepy');
    again.close();
  });

  it('admission: a model that will not fit is refused with 507 and a clear message', async () => {
    const tight = await startTestHive({ memoryReserveBytes: 2 ** 50 });
    try {
      const res = await tight.api<ErrorBody>('POST', '/v1/workers', tinySpawn({ id: 'big' }));
      expect(res.status).toBe(507);
      expect(res.body.error.code).toBe('INSUFFICIENT_MEMORY');
      expect(res.body.error.message).toMatch(/needs \d+ MiB of RAM/);
      expect((await tight.api<{ workers: WorkerInfo[] }>('GET', '/v1/workers')).body.workers).toEqual([]);
    } finally {
      await tight.close();
    }
  });
});

