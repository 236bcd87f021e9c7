/**
 * Admission through a real hive with real worker processes on the tiny model. The GPU is the one
 * faked boundary (no GPU here): the hive is handed fake device reports and a fake estimate table,
 * so its decisions are those it would take on a two-GPU machine; the workers themselves run on
 * the CPU (node-llama-cpp finds no GPU and loads 0 layers whatever it is told).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceInfo } from '../../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import { EventStream, startTestHive, tinySpawn, type TestHive } from '../hiveHarness.js';
import { parsePrometheusText, sampleValue } from '../prometheusText.js';
import { cpu, GiB, fixedEstimator, gpu, linearTable } from './fakeDevices.js';

type ErrorBody = { error: { code: string; message: string } };

function environOf(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

describe('hive admission with fake GPU reports and real workers', () => {
  let t: TestHive | undefined;
  let events: EventStream | undefined;
  afterEach(async () => {
    events?.close();
    await t?.close();
    t = undefined;
  });

  it('two concurrent spawns that together would over-commit gpu0: the second goes to gpu1 / partial, both pinned', async () => {
    let reads = 0;
    const devices: DeviceInfo[] = [gpu(0, 24), gpu(1, 10), cpu(60)];
    t = await startTestHive({
      // Two fresh workers at once on a busy 2-core machine: generous health and load timing.
      policy: { health_period_ms: 5_000, load_timeout_ms: 120_000 },
      memoryReserveBytes: 0,
      devicePeriodMs: 0,
      readDevices: async () => {
        reads += 1;
        return devices;
      },
      // Both estimates are still in flight together; the plan + reservation step runs after them.
      estimator: fixedEstimator(linearTable(20, 1), 100),
    });
    events = new EventStream(t.hive.url);
    await events.opened;
    const [a, b] = await Promise.all([
      t.api<WorkerInfo>('POST', '/v1/workers', tinySpawn({ id: 'a', device: 'auto', gpu_layers: 'auto' })),
      t.api<WorkerInfo>('POST', '/v1/workers', tinySpawn({ id: 'b', device: 'auto', gpu_layers: 'auto' })),
    ]);
    expect([a.status, b.status]).toEqual([201, 201]);
    const byGpu = Object.fromEntries([a.body, b.body].map((w) => [w.gpu, w]));
    // The first admitted takes the GPU with the most free memory, all 20 layers (20 GiB of gpu0's 24).
    // Without the reservation the second would see 24 GiB free on gpu0 as well; it sees 4 there and
    // 10 on gpu1, so it goes to gpu1 with the 10 layers that fit.
    expect(byGpu.gpu0).toMatchObject({ offload: { layers: 20, total: 20 }, vram_bytes: 20 * GiB });
    expect(byGpu.gpu1).toMatchObject({ offload: { layers: 10, total: 20 }, vram_bytes: 10 * GiB });
    expect(t.hive.supervisor.reservations.size).toBeLessThanOrEqual(2);

    // Pinned through the environment the backend honours (CUDA here), read from the real processes.
    for (const w of [byGpu.gpu0!, byGpu.gpu1!]) {
      const ready = await events.waitForWorker(w.id, (x) => x.state === 'idle', 150_000);
      const env = environOf(ready.pid!);
      expect(env.CUDA_VISIBLE_DEVICES).toBe(w.gpu === 'gpu0' ? '0' : '1');
      expect(env.CUDA_DEVICE_ORDER).toBe('PCI_BUS_ID');
      // What the worker itself reported at ready replaces the plan: no GPU here, so 0 layers.
      expect(ready.offload).toEqual({ layers: 0, total: 3 });
      expect(ready.gpu).toBe(w.gpu);
    }
    // /metrics: per-device memory as measured, per-worker VRAM estimate and offload.
    const families = parsePrometheusText((await t.api<string>('GET', '/metrics')).body);
    expect(sampleValue(families, 'rbee_hive_device_memory_bytes', { device: 'gpu1', kind: 'free', type: 'cuda' })).toBe(10 * GiB);
    expect(sampleValue(families, 'rbee_hive_device_memory_bytes', { device: 'cpu', kind: 'total' })).toBe(64 * GiB);
    expect(sampleValue(families, 'rbee_hive_worker_vram_bytes', { worker: byGpu.gpu1!.id, gpu: 'gpu1', source: 'estimate' })).toBe(10 * GiB);
    expect(sampleValue(families, 'rbee_hive_worker_gpu_layers', { worker: byGpu.gpu0!.id, of: '3' })).toBe(0);
    // Ready workers give their reservations back, and the devices were measured again.
    expect(t.hive.supervisor.reservations.size).toBe(0);
    const readsAtReady = reads;
    expect(readsAtReady).toBeGreaterThanOrEqual(2);
    await t.api('POST', '/v1/workers/a/stop');
    await events.waitForWorker('a', (x) => x.state === 'stopped');
    await expect.poll(() => reads, { timeout: 30_000 }).toBeGreaterThan(readsAtReady);
  }, 300_000);

  it('gpu_layers max that does not fit → 507 naming the need; nothing is left reserved', async () => {
    t = await startTestHive({
      memoryReserveBytes: GiB,
      devicePeriodMs: 0,
      readDevices: async () => [gpu(0, 8), cpu(60)],
      estimator: fixedEstimator(linearTable(20, 1)),
    });
    const res = await t.api<ErrorBody>('POST', '/v1/workers', tinySpawn({ id: 'big', device: 'gpu0', gpu_layers: 'max' }));
    expect(res.status).toBe(507);
    expect(res.body.error.code).toBe('INSUFFICIENT_MEMORY');
    expect(res.body.error.message).toMatch(/20 of 20 layers on gpu0: needs 20480 MiB of VRAM \(7168 MiB free\)/);
    expect(t.hive.supervisor.reservations.size).toBe(0);
    const missing = await t.api<ErrorBody>('POST', '/v1/workers', tinySpawn({ id: 'x', device: 'gpu4' }));
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/No device gpu4 on this hive \(devices: gpu0, cpu\)/);
  });
});
