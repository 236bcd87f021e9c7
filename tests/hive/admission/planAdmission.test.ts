// The GPU is faked here (fake device reports): no GPU exists on the build machines.
import { describe, expect, it } from 'vitest';
import { planAdmission, type AdmissionInput } from '../../../src-main/hive/admission/planAdmission.js';
import { cpu, GiB, gpu, linearTable } from './fakeDevices.js';

const base = (patch: Partial<AdmissionInput>): AdmissionInput => ({
  model: 'big.gguf',
  table: linearTable(40, 1), // 40 GiB of weights, 1 GiB per layer
  devices: [gpu(0, 24), cpu(60)],
  reserved: () => 0,
  reserveBytes: 0,
  device: 'auto',
  gpuLayers: 'auto',
  ...patch,
});

describe('planAdmission (fake device reports)', () => {
  it('offloads everything when the whole model fits the GPU', () => {
    const d = planAdmission(base({ table: linearTable(20, 1) }));
    expect(d).toMatchObject({ ok: true, layers: 20, gpu: { id: 'gpu0' } });
  });

  it('a model bigger than the VRAM gets the largest layer count that fits, not 507', () => {
    const d = planAdmission(base({ reserveBytes: 2 * GiB }));
    // 24 GiB free − 2 GiB reserve = 22 layers of 1 GiB; the other 18 GiB (+ reserve) fit in RAM.
    expect(d).toMatchObject({ ok: true, layers: 22, gpu: { id: 'gpu0' } });
    if (d.ok) expect(d.need).toEqual({ vram: 22 * GiB, ram: 18 * GiB });
  });

  it('counts reservations of loading spawns against the device they hold', () => {
    const d = planAdmission(base({ reserved: (id) => (id === 'gpu0' ? 10 * GiB : 0) }));
    expect(d).toMatchObject({ ok: true, layers: 14 });
  });

  it('refuses 507 only when no layer count fits VRAM and RAM together', () => {
    // 40 GiB model, 8 GiB VRAM, 20 GiB RAM: at best 8 on GPU + 32 in RAM > 20 → nothing fits.
    const d = planAdmission(base({ devices: [gpu(0, 8), cpu(20)] }));
    expect(d).toMatchObject({ ok: false, status: 507, code: 'INSUFFICIENT_MEMORY' });
    if (!d.ok) expect(d.message).toMatch(/at any offload/);
    // With 4 GiB more RAM the same request fits partially (8 on GPU, 32 GiB in RAM).
    expect(planAdmission(base({ devices: [gpu(0, 8), cpu(32)] }))).toMatchObject({ ok: true, layers: 8 });
  });

  it('unpinned: the GPU with the most free memory wins', () => {
    const d = planAdmission(base({ devices: [gpu(0, 6), gpu(1, 20), gpu(2, 12), cpu(60)] }));
    expect(d).toMatchObject({ ok: true, gpu: { id: 'gpu1' }, layers: 20 });
    // ... measured net of what loading spawns hold there.
    const held = planAdmission(base({ devices: [gpu(0, 6), gpu(1, 20), gpu(2, 12), cpu(60)], reserved: (id) => (id === 'gpu1' ? 16 * GiB : 0) }));
    expect(held).toMatchObject({ ok: true, gpu: { id: 'gpu2' }, layers: 12 });
  });

  it('pinned: only that GPU, and an unknown device id is a 400 naming the devices', () => {
    const d = planAdmission(base({ device: 'gpu0', devices: [gpu(0, 6), gpu(1, 20), cpu(60)] }));
    expect(d).toMatchObject({ ok: true, gpu: { id: 'gpu0' }, layers: 6 });
    const missing = planAdmission(base({ device: 'gpu3', devices: [gpu(0, 6), cpu(60)] }));
    expect(missing).toMatchObject({ ok: false, status: 400 });
    if (!missing.ok) expect(missing.message).toBe('No device gpu3 on this hive (devices: gpu0, cpu)');
  });

  it('device=gpu without a GPU is a 400; device=auto without one runs on the CPU', () => {
    expect(planAdmission(base({ device: 'gpu', devices: [cpu(60)] }))).toMatchObject({ ok: false, status: 400 });
    expect(planAdmission(base({ devices: [cpu(60)] }))).toMatchObject({ ok: true, gpu: null, layers: 0 });
  });

  it('gpu_layers 0 and device cpu: CPU only, RAM checked', () => {
    expect(planAdmission(base({ gpuLayers: 0 }))).toMatchObject({ ok: true, gpu: null, layers: 0 });
    expect(planAdmission(base({ device: 'cpu', gpuLayers: 'max' }))).toMatchObject({ ok: true, gpu: null, layers: 0 });
    const tight = planAdmission(base({ device: 'cpu', devices: [gpu(0, 24), cpu(30)] }));
    expect(tight).toMatchObject({ ok: false, status: 507 });
    if (!tight.ok) expect(tight.message).toMatch(/needs 40960 MiB of RAM, 30720 MiB free/);
  });

  it('gpu_layers max or N must fit as asked (507 otherwise, pointing at auto)', () => {
    const max = planAdmission(base({ gpuLayers: 'max' }));
    expect(max).toMatchObject({ ok: false, status: 507 });
    if (!max.ok) expect(max.message).toMatch(/40 of 40 layers on gpu0.*gpu_layers=auto/);
    expect(planAdmission(base({ gpuLayers: 10 }))).toMatchObject({ ok: true, layers: 10 });
    expect(planAdmission(base({ gpuLayers: 500, table: linearTable(20, 1) }))).toMatchObject({ ok: true, layers: 20 });
  });

  it('a GPU asked for by name with no room for one layer is refused; auto falls back to the CPU', () => {
    const devices = [gpu(0, 0.5), cpu(60)];
    expect(planAdmission(base({ device: 'gpu', devices }))).toMatchObject({ ok: false, status: 507 });
    expect(planAdmission(base({ device: 'auto', devices }))).toMatchObject({ ok: true, gpu: null, layers: 0 });
  });
});
