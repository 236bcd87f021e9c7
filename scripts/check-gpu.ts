/**
 * `npm run check:gpu`: the GPU path on a real GPU (issue 19). Without a GPU it prints one line and
 * exits 0. With one:
 *  1. loads a small generated model fully offloaded, then partially (half the layers), then on the
 *     CPU, through the worker's own ModelRuntime; reports the backend, VRAM before/after each load,
 *     and GPU vs CPU tokens/s as a ratio;
 *  2. runs the hive's admission decision (real device figures, node-llama-cpp's estimates) for a
 *     model sized to 1.5× the free VRAM, written as a sparse GGUF (real header, no weights): it must
 *     choose partial offload, not 507.
 * Exits 1 on any mismatch.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { planAdmission } from '../src-main/hive/admission/planAdmission.js';
import { HardwareProbe } from '../src-main/hive/HardwareProbe.js';
import { buildTinyLlamaGguf } from '../src-main/models/gguf/tinyLlamaModel.js';
import { LARGE_LLAMA_BLOCK, llamaBlockBytes, writeSparseLlamaGguf } from '../src-main/models/gguf/sparseLlamaModel.js';
import { ModelRuntime } from '../src-main/worker/ModelRuntime.js';
import type { DeviceInfo } from '../src-shared/cluster/HiveInfo.js';
import type { Device, GpuLayers } from '../src-shared/cluster/WorkerInfo.js';
import { InferenceRequestSchema } from '../src-shared/worker/inferenceWire.js';

const GiB = 1024 ** 3;
const gib = (n: number): string => `${(n / GiB).toFixed(2)} GiB`;
const mismatches: string[] = [];
const expectThat = (ok: boolean, what: string): void => {
  console.log(`  ${ok ? 'ok ' : 'MISMATCH'} ${what}`);
  if (!ok) mismatches.push(what);
};

const probe = new HardwareProbe({ gpu: 'auto' });
const backend = await probe.backend();
if (backend === false) {
  console.log('check:gpu: skipped: node-llama-cpp finds no GPU (CUDA, Vulkan or Metal) on this machine, so there is no GPU path to check.');
  await probe.dispose();
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'rbee-check-gpu-'));
const firstGpu = async (): Promise<DeviceInfo> => {
  const gpu = (await probe.devices()).find((d) => d.type !== 'cpu');
  if (!gpu) throw new Error('the backend reports a GPU but the probe lists none');
  return gpu;
};

try {
  const devices = await probe.devices();
  console.log(`check:gpu: backend ${backend}; devices: ${devices.map((d) => `${d.id} ${d.name} (${gib(d.memory_free)} free of ${gib(d.memory_total)})`).join('; ')}`);

  // ── 1. full, partial and CPU loads of a small model through the worker's runtime ──
  const modelPath = join(dir, 'check-gpu.gguf');
  writeFileSync(modelPath, buildTinyLlamaGguf({ seed: 7, embedding: 512, blocks: 8, heads: 8, feedForward: 1536, contextLength: 1024, silentEos: true }));
  const request = InferenceRequestSchema.parse({ prompt: 'The GPU check', max_tokens: 256, temperature: 0, ignore_eos: true });
  const runs: Record<string, number> = {};
  const load = async (name: string, device: Device, gpuLayers: GpuLayers, expectLayers: (total: number) => number): Promise<number> => {
    const before = (await firstGpu()).memory_free;
    const runtime = await ModelRuntime.load({ modelPath, device, gpuLayers, threads: Math.max(1, Math.floor(availableParallelism() / 2)), contextSize: 1024, slots: 1 });
    try {
      const after = (await firstGpu()).memory_free;
      const slot = runtime.acquireSlot();
      if (!slot) throw new Error('no slot');
      const prepared = await runtime.prepare(request);
      const result = await runtime.generate(slot, prepared, request, { onText: () => undefined, signal: new AbortController().signal });
      runtime.releaseSlot(slot);
      const tps = (result.tokensOut / result.decodeMs) * 1000;
      runs[name] = tps;
      console.log(
        `  ${name}: ${runtime.offload.layers}/${runtime.offload.total} layers on the GPU; VRAM free ${gib(before)} → ${gib(after)} (measured by the worker: ${runtime.vramMeasuredBytes === null ? 'n/a' : gib(runtime.vramMeasuredBytes)}); ${result.tokensOut} tokens at ${tps.toFixed(0)} tok/s`,
      );
      expectThat(runtime.offload.layers === expectLayers(runtime.offload.total), `${name}: ${expectLayers(runtime.offload.total)} layers offloaded (got ${runtime.offload.layers})`);
      expectThat(result.tokensOut === 256, `${name}: 256 tokens generated (got ${result.tokensOut})`);
      return runtime.offload.total;
    } finally {
      await runtime.dispose();
    }
  };
  console.log('1. loads');
  const total = await load('full', 'auto', 'max', (t) => t);
  const partial = Math.max(1, Math.floor(total / 2));
  await load('partial', 'gpu', partial, () => partial);
  await load('cpu', 'cpu', 0, () => 0);
  if (runs.full && runs.cpu) console.log(`  GPU (full offload) vs CPU: ${(runs.full / runs.cpu).toFixed(2)}× tokens/s; partial vs CPU: ${((runs.partial ?? 0) / runs.cpu).toFixed(2)}×`);

  // ── 2. admission for a model 1.5× the free VRAM ──
  console.log('2. admission of a model sized to 1.5× the free VRAM');
  const gpu = await firstGpu();
  const blocks = Math.ceil((1.5 * gpu.memory_free) / llamaBlockBytes(LARGE_LLAMA_BLOCK));
  const bigPath = join(dir, 'sparse-big.gguf');
  const size = await writeSparseLlamaGguf(bigPath, { ...LARGE_LLAMA_BLOCK, blocks });
  const table = await probe.offloadTable({ modelPath: bigPath, ctx: 4096, slots: 1 });
  const decision = planAdmission({ model: 'sparse-big.gguf', table, devices: await probe.devices(), reserved: () => 0, reserveBytes: 256 * 1024 * 1024, device: 'auto', gpuLayers: 'auto' });
  console.log(`  model ${gib(size)} (sparse, ${blocks} blocks), all layers need ${gib(table.byLayers[table.totalLayers]?.vram ?? 0)} of VRAM; ${gpu.id} has ${gib(gpu.memory_free)} free`);
  if (decision.ok) console.log(`  decision: ${decision.layers}/${table.totalLayers} layers on ${decision.gpu?.id ?? 'the CPU'} (VRAM ${gib(decision.need.vram)}, RAM ${gib(decision.need.ram)})`);
  else console.log(`  decision: ${decision.status} ${decision.code}: ${decision.message}`);
  expectThat(decision.ok && decision.gpu !== null && decision.layers > 0 && decision.layers < table.totalLayers, 'admission chooses partial offload (not 507, not all layers)');
} finally {
  rmSync(dir, { recursive: true, force: true });
  await probe.dispose();
}

if (mismatches.length > 0) {
  console.log(`check:gpu: FAILED (${mismatches.length} mismatch${mismatches.length > 1 ? 'es' : ''})`);
  process.exit(1);
}
console.log('check:gpu: ok');
