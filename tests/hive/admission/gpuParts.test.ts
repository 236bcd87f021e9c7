// Pure parts of the GPU path: option parsing, pinning environment, nvidia-smi parsing, device memory
// refresh, the worker's argv. The GPU itself is faked (fake reports): no GPU exists here.
import { describe, expect, it } from 'vitest';
import { deviceEnvironment } from '../../../src-main/hive/admission/deviceEnvironment.js';
import { DeviceMemoryMonitor } from '../../../src-main/hive/admission/DeviceMemoryMonitor.js';
import { DeviceReservations, RAM } from '../../../src-main/hive/admission/DeviceReservations.js';
import { parseNvidiaSmi } from '../../../src-main/hive/admission/nvidiaSmi.js';
import { UNPLACED } from '../../../src-main/hive/admission/WorkerPlacement.js';
import { workerArgs, type WorkerLaunchSpec } from '../../../src-main/hive/ManagedWorker.js';
import { resolveGpuLayersOption } from '../../../src-main/worker/ModelRuntime.js';
import { DeviceSchema, GpuLayersSchema, parseDevice, parseGpuLayers, pinnedGpuIndex } from '../../../src-shared/worker/gpuOptions.js';
import type { DeviceInfo } from '../../../src-shared/cluster/HiveInfo.js';
import { startRbee } from '../../helpers/childProcess.js';
import { cpu, GiB, gpu } from './fakeDevices.js';

describe('GPU options', () => {
  it('device: auto | cpu | gpu | gpuN', () => {
    for (const ok of ['auto', 'cpu', 'gpu', 'gpu0', 'gpu1', 'gpu15']) expect(parseDevice(ok)).toBe(ok);
    for (const bad of ['tpu', 'gpu-1', 'gpu01', 'GPU0', 'gpu100', '', 'cpu0']) expect(parseDevice(bad)).toBeNull();
    expect(DeviceSchema.safeParse('gpu2').success).toBe(true);
    expect(DeviceSchema.safeParse('gpu 2').success).toBe(false);
    expect(pinnedGpuIndex('gpu3')).toBe(3);
    expect(pinnedGpuIndex('gpu')).toBeNull();
  });

  it('gpu_layers: auto | max | 0..1024', () => {
    expect(parseGpuLayers('auto')).toBe('auto');
    expect(parseGpuLayers('max')).toBe('max');
    expect(parseGpuLayers('0')).toBe(0);
    expect(parseGpuLayers('33')).toBe(33);
    for (const bad of ['-1', '1.5', 'all', '', '2000', ' 3']) expect(parseGpuLayers(bad)).toBeNull();
    expect(GpuLayersSchema.safeParse(12).success).toBe(true);
    expect(GpuLayersSchema.safeParse(-1).success).toBe(false);
    expect(GpuLayersSchema.safeParse('12').success).toBe(false);
  });

  it('the worker never offloads on device cpu', () => {
    expect(resolveGpuLayersOption('cpu', 'max')).toBe(0);
    expect(resolveGpuLayersOption('gpu0', 12)).toBe(12);
    expect(resolveGpuLayersOption('auto', undefined)).toBe('auto');
  });
});

describe('pinning environment per backend', () => {
  it('CUDA: CUDA_VISIBLE_DEVICES in PCI bus order (as nvidia-smi numbers them)', () => {
    expect(deviceEnvironment('cuda', 1)).toEqual({ CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: '1' });
  });
  it('Vulkan: GGML_VK_VISIBLE_DEVICES', () => {
    expect(deviceEnvironment('vulkan', 2)).toEqual({ GGML_VK_VISIBLE_DEVICES: '2' });
  });
  it('Metal and CPU: nothing to set', () => {
    expect(deviceEnvironment('metal', 0)).toEqual({});
    expect(deviceEnvironment('cpu', 0)).toEqual({});
  });
});

describe('nvidia-smi figures', () => {
  it('one device per line, MiB → bytes, commas in names survive', () => {
    const devices = parseNvidiaSmi('0, NVIDIA H200, 143771, 142000\n1, NVIDIA GeForce RTX 4090, Founders, 24564, 1024\n\ngarbage line\n');
    expect(devices).toEqual([
      { id: 'gpu0', type: 'cuda', name: 'NVIDIA H200', memory_total: 143771 * 1048576, memory_free: 142000 * 1048576 },
      { id: 'gpu1', type: 'cuda', name: 'NVIDIA GeForce RTX 4090, Founders', memory_total: 24564 * 1048576, memory_free: 1024 * 1048576 },
    ]);
    expect(parseNvidiaSmi('')).toEqual([]);
    expect(parseNvidiaSmi('x, y, [N/A], [N/A]')).toEqual([]);
  });
});

describe('DeviceReservations', () => {
  it('sums what loading spawns hold per device; release is idempotent', () => {
    const r = new DeviceReservations();
    const a = r.hold({ gpu0: 4 * GiB, [RAM]: GiB });
    const b = r.hold({ gpu0: 2 * GiB });
    expect(r.reserved('gpu0')).toBe(6 * GiB);
    expect(r.reserved(RAM)).toBe(GiB);
    a();
    a();
    expect(r.reserved('gpu0')).toBe(2 * GiB);
    b();
    expect(r.size).toBe(0);
  });
});

describe('DeviceMemoryMonitor', () => {
  it('refreshes on demand, shares a measurement in flight, reports changes, and reuses a fresh one', async () => {
    let reads = 0;
    let free = 10;
    const changes: DeviceInfo[][] = [];
    let now = 1_000;
    const monitor = new DeviceMemoryMonitor({
      read: async () => {
        reads += 1;
        await Promise.resolve();
        return [gpu(0, free), cpu(30)];
      },
      onChange: (d) => changes.push(d),
      periodMs: 0,
      now: () => now,
    });
    const [a, b] = await Promise.all([monitor.refresh(), monitor.refresh()]);
    expect(reads).toBe(1);
    expect(a).toBe(b);
    expect(changes).toHaveLength(1);
    await monitor.fresh(1_000);
    expect(reads).toBe(1); // still fresh
    now += 2_000;
    free = 4;
    const later = await monitor.fresh(1_000);
    expect(reads).toBe(2);
    expect(later[0]!.memory_free).toBe(4 * GiB);
    expect(changes).toHaveLength(2);
    await monitor.refresh();
    expect(changes).toHaveLength(2); // same figures: no change event
    monitor.dispose();
  });

  it('measures periodically', async () => {
    let reads = 0;
    const monitor = new DeviceMemoryMonitor({ read: async () => [cpu(++reads)], periodMs: 20 });
    await expect.poll(() => reads, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    monitor.dispose();
  });
});

describe('worker argv', () => {
  const spec: WorkerLaunchSpec = {
    id: 'w1', model: 'm.gguf', modelPath: '/m/m.gguf', device: 'gpu1', slots: 2, threads: 1, ctx: 512,
    policy: {} as WorkerLaunchSpec['policy'], policyOverride: {}, idleTtlMs: null, gpuLayers: 12, placement: UNPLACED,
  };
  it('carries the GPU options, and only those that were set', () => {
    expect(workerArgs(spec).join(' ')).toBe('--model /m/m.gguf --model-name m.gguf --port 0 --host 127.0.0.1 --id w1 --slots 2 --threads 1 --ctx 512 --device gpu1 --gpu-layers 12');
    const tuned = workerArgs({ ...spec, batchSize: 256, flashAttention: false, kvCacheType: 'q8_0' });
    expect(tuned.slice(-6)).toEqual(['--batch-size', '256', '--flash-attention', 'off', '--kv-cache-type', 'q8_0']);
  });
});

describe('rbee worker GPU flags (real process)', () => {
  it('bad values exit 2 with a message naming the flag, before anything loads', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--gpu-layers', 'most'], /--gpu-layers must be auto, max or a layer count/],
      [['--device', 'gpu-1'], /--device must be auto, cpu, gpu or gpu0, gpu1/],
      [['--flash-attention', 'yes'], /--flash-attention must be on or off/],
      [['--kv-cache-type', 'q3_k'], /--kv-cache-type must be one of f32, f16, q8_0/],
      [['--batch-size', '0'], /--batch-size must be an integer between 1 and 65536/],
    ];
    await Promise.all(
      cases.map(async ([flags, message]) => {
        const proc = startRbee('worker', ['--model', '/nonexistent.gguf', ...flags]);
        expect((await proc.exited).code).toBe(2);
        expect(proc.output()).toMatch(message);
      }),
    );
  }, 120_000);
});
