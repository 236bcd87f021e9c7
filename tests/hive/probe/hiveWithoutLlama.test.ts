/**
 * The hive process never loads node-llama-cpp: a real `rbee hive` (the built bundle) lists its models,
 * reports its devices (a probe child runs), admits and starts a worker (the estimate runs in the probe
 * child) — and afterwards neither its module resolutions nor its memory maps contain node-llama-cpp.
 * The same recorder sees node-llama-cpp resolved by the hive's children (probe child, worker), so
 * the check can fail: a hive that imported it would be listed too.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceInfo } from '../../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import { HiveRoutes } from '../../../src-shared/hive/hiveApi.js';
import { startRbee, type RbeeProcess } from '../../helpers/childProcess.js';
import { api, EventStream, HIVE_TOKEN, isAlive, makeModelsDir, TINY, tinySpawn } from '../hiveHarness.js';

const RECORDER = pathToFileURL(resolve(import.meta.dirname, '../../helpers/moduleLoadRecorder.mjs')).href;

describe('the hive process without node-llama-cpp', () => {
  let hive: RbeeProcess | undefined;
  let events: EventStream | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    events?.close();
    if (hive && isAlive(hive.pid)) await hive.stop(10_000);
    hive = undefined;
    for (const c of cleanups.splice(0)) await c();
  });

  it('lists models, probes devices and admits a worker, yet never resolves or maps node-llama-cpp', async () => {
    const models = await makeModelsDir();
    cleanups.push(models.cleanup);
    const logDir = await mkdtemp(join(tmpdir(), 'rbee-imports-'));
    cleanups.push(() => rm(logDir, { recursive: true, force: true }));
    const log = join(logDir, 'imports.log');
    hive = startRbee('hive', ['--models-dir', models.dir, '--port', '0', '--gpu', 'off', '--threads', '1', '--standby', '0'], {
      RBEE_HIVE_TOKEN: HIVE_TOKEN,
      RBEE_LOG_LEVEL: 'warn',
      NODE_OPTIONS: `--import=${RECORDER}`,
      RBEE_TEST_IMPORT_LOG: log,
      RBEE_TEST_IMPORT_MATCH: 'node-llama-cpp',
    });
    const { url } = await hive.waitForLine<{ url: string }>((l) => l.event === 'listening', 60_000);
    events = new EventStream(url);
    await events.opened;

    const listed = await api<{ models: Array<{ name: string; architecture: string | null; quantization: string | null }> }>(url, 'GET', HiveRoutes.models);
    expect(listed.body.models.find((m) => m.name === TINY)).toMatchObject({ architecture: 'llama', quantization: 'F32' });
    const devices = await api<{ devices: DeviceInfo[] }>(url, 'GET', HiveRoutes.devices);
    expect(devices.body.devices.map((d) => d.id)).toEqual(['cpu']);
    const spawned = await api<WorkerInfo>(url, 'POST', HiveRoutes.workers, tinySpawn({ id: 'w' }));
    expect(spawned.status).toBe(201);
    const worker = await events.waitForWorker('w', (w) => w.state === 'idle', 120_000);

    // The recorder works: the worker resolved node-llama-cpp (and so did a probe child).
    const lines = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
    const pids = new Set(lines.map((l) => Number(l.split(' ')[0])));
    expect(pids.has(worker.pid!)).toBe(true);
    expect(pids.size).toBeGreaterThanOrEqual(2);
    // The hive did not.
    expect(lines.filter((l) => Number(l.split(' ')[0]) === hive!.pid)).toEqual([]);
    expect(pids.has(hive.pid)).toBe(false);
    // Nor is node-llama-cpp's native addon (or any of its files) mapped into the hive.
    const maps = readFileSync(`/proc/${hive.pid}/maps`, 'utf8');
    expect(maps).not.toMatch(/node-llama-cpp/);
    // …while it is in the worker's.
    expect(readFileSync(`/proc/${worker.pid}/maps`, 'utf8')).toMatch(/node-llama-cpp/);
  }, 240_000);
});
