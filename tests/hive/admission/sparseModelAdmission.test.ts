/**
 * node-llama-cpp's real estimates for a big model written as a sparse GGUF (real header, no
 * weights), decided against a fake GPU report (no GPU here) of 1/1.5 of its VRAM need: admission must
 * choose partial offload. `npm run check:gpu` does the same against a real GPU's figures.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planAdmission } from '../../../src-main/hive/admission/planAdmission.js';
import { HardwareProbe } from '../../../src-main/hive/HardwareProbe.js';
import { LARGE_LLAMA_BLOCK, llamaBlockBytes, writeSparseLlamaGguf } from '../../../src-main/models/gguf/sparseLlamaModel.js';
import { cpu, GiB } from './fakeDevices.js';

const dir = mkdtempSync(join(tmpdir(), 'rbee-sparse-'));
const probe = new HardwareProbe({ gpu: false });
afterAll(async () => {
  await probe.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('admission of a sparse 40-block model against a GPU with 1/1.5 of its need', () => {
  it('the file is sparse, the estimate grows with the layers offloaded, and the decision is partial offload', async () => {
    const path = join(dir, 'big.gguf');
    const size = await writeSparseLlamaGguf(path, { ...LARGE_LLAMA_BLOCK, blocks: 40 });
    expect(size).toBeGreaterThan(40 * llamaBlockBytes(LARGE_LLAMA_BLOCK));
    expect(statSync(path).size).toBe(size);
    expect(statSync(path).blocks * 512).toBeLessThan(1024 * 1024); // a hole, not 68 GB of disk

    const table = await probe.offloadTable({ modelPath: path, ctx: 4096, slots: 1 });
    expect(table.totalLayers).toBe(41); // 40 blocks + the output layer
    for (let n = 1; n <= table.totalLayers; n++) {
      expect(table.byLayers[n]!.vram).toBeGreaterThanOrEqual(table.byLayers[n - 1]!.vram);
      expect(table.byLayers[n]!.ram).toBeLessThanOrEqual(table.byLayers[n - 1]!.ram);
    }
    const fullVram = table.byLayers[table.totalLayers]!.vram;
    const gpu = { id: 'gpu0', type: 'cuda' as const, name: 'Fake GPU', memory_total: fullVram, memory_free: fullVram / 1.5 };
    const decision = planAdmission({ model: 'big.gguf', table, devices: [gpu, cpu(128)], reserved: () => 0, reserveBytes: 256 * 1024 * 1024, device: 'auto', gpuLayers: 'auto' });
    expect(decision).toMatchObject({ ok: true, gpu: { id: 'gpu0' } });
    if (!decision.ok) return;
    expect(decision.layers).toBeGreaterThan(0);
    expect(decision.layers).toBeLessThan(table.totalLayers);
    expect(decision.need.vram).toBeLessThanOrEqual(gpu.memory_free - 256 * 1024 * 1024);
    // One more layer would not have fitted: it is the largest count.
    expect(table.byLayers[decision.layers + 1]!.vram).toBeGreaterThan(gpu.memory_free - 256 * 1024 * 1024);
    expect(decision.need.ram).toBeLessThan(128 * GiB);
  }, 120_000);
});
