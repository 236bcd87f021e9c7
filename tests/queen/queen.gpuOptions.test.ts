/**
 * The GPU launch options through the whole stack on a CPU machine (issue 19): queen HTTP control
 * API → local hive child → real worker on the tiny model, which answers a request. No GPU exists
 * here, so this is the `gpu_layers: 0` / `device: cpu` path; the GPU path is `npm run check:gpu`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerEntry } from '../../src-shared/control/workerSpecTypes.js';
import { endOf, streamInference } from '../helpers/sseClient.js';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';

let q: TestQueen;
beforeAll(async () => {
  q = await startTestQueen();
  // The hive's first device probe loads node-llama-cpp (seconds on a busy machine); admission waits
  // for it, and the queen gives a hive call 10 s. Spawn once the devices are known.
  await q.waitFor((s) => s.hives.some((h) => h.id === 'local' && h.devices.length > 0), 90_000);
});
afterAll(async () => {
  await q?.close();
});

const post = async (body: Record<string, unknown>): Promise<{ status: number; body: WorkerEntry & { error?: { code: string; message: string } } }> => {
  const res = await fetch(`${q.url}/v1/control/workers`, { method: 'POST', headers: { ...q.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as WorkerEntry & { error?: { code: string; message: string } } };
};

describe('GPU launch options through queen → hive → worker (CPU)', () => {
  it('device cpu, gpu_layers 0 and the tuning options: the worker loads, WorkerInfo shows them, it answers', async () => {
    const spawned = await post({
      hive_id: 'local',
      model: MODEL,
      device: 'cpu',
      gpu_layers: 0,
      batch_size: 64,
      flash_attention: false,
      kv_cache_type: 'f16',
      slots: 1,
      threads: 1,
      ctx: 256,
    });
    expect(spawned.status, JSON.stringify(spawned.body)).toBe(201);
    // The spec is declared and its worker started (POST /v1/control/workers answers both).
    expect(spawned.body.spec).toMatchObject({ hive: 'local', model: MODEL, device: 'cpu', gpu_layers: 0, enabled: true, ephemeral: false });
    expect(spawned.body.worker).toMatchObject({ device: 'cpu', gpu: null, vram_bytes: 0 });
    // Admission's plan (node-llama-cpp's estimate of the tiny model: 3 layers incl. the output layer).
    expect(spawned.body.worker?.offload).toEqual({ layers: 0, total: 3 });
    const snapshot = await q.waitFor((s) => s.workers.some((w) => w.id === spawned.body.id && w.state === 'idle'), 90_000);
    const ready = snapshot.workers.find((w) => w.id === spawned.body.id)!;
    // What the worker itself reported at ready.
    expect(ready).toMatchObject({ device: 'cpu', gpu: null, offload: { layers: 0, total: 3 }, vram_measured_bytes: null });

    const result = await streamInference(`${q.url}/v1/inference`, { model: MODEL, prompt: 'hello', max_tokens: 8, ignore_eos: true }, q.auth);
    expect(result.status).toBe(200);
    expect(result.headers.get('x-rbee-worker')).toBe(`local/${spawned.body.id}`);
    expect(endOf(result)).toMatchObject({ tokens_out: 8, stop_reason: 'max_tokens' });
  }, 120_000);

  it('bad GPU options are refused with 400 by the queen, naming the field', async () => {
    for (const [field, value] of [
      ['gpu_layers', 'most'],
      ['gpu_layers', -1],
      ['device', 'gpu-1'],
      ['kv_cache_type', 'q3_k'],
      ['batch_size', 0],
      ['flash_attention', 'yes'],
    ] as const) {
      const res = await post({ hive_id: 'local', model: MODEL, [field]: value });
      expect(res.status, `${field}=${String(value)}`).toBe(400);
      expect(res.body.error?.message).toContain(field);
    }
  });

  it('a GPU pinned by name on a hive without one: 400 from the hive, relayed by the queen', async () => {
    const res = await post({ hive_id: 'local', model: MODEL, device: 'gpu1', slots: 1, threads: 1, ctx: 256 });
    expect(res.status).toBe(400);
    expect(res.body.error?.message).toMatch(/No device gpu1 on this hive \(devices: cpu\)/);
  });
});
