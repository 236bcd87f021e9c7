import { cpus, freemem, totalmem } from 'node:os';
import type { DeviceInfo } from '../../src-shared/cluster/HiveInfo.js';
// Type-only: erased at compile time, so node-llama-cpp is still loaded lazily (dynamic import below).
import type { Llama } from 'node-llama-cpp';
import type { EstimateRequest, MemoryEstimator, MemoryNeed, OffloadTable } from './admission/MemoryEstimator.js';
import { queryNvidiaSmi } from './admission/nvidiaSmi.js';

export interface HardwareProbeOptions {
  /** GPU backend to probe: 'auto' lets node-llama-cpp pick (CUDA, Vulkan, Metal); false = CPU only. Defaults to 'auto'. */
  gpu?: 'auto' | false;
  /** Per-GPU figures for CUDA (nvidia-smi). Injected by tests; defaults to running nvidia-smi. */
  cudaDevices?: () => Promise<DeviceInfo[] | null>;
}

/**
 * What this machine has (node-llama-cpp's view: GPU type, VRAM total/free; per GPU from nvidia-smi
 * on CUDA; CPU and RAM otherwise) and what a model needs there at each offload (node-llama-cpp's
 * GGUF insights). The llama binding is loaded lazily, once, without building anything.
 */
export class HardwareProbe implements MemoryEstimator {
  private llama: Promise<Llama> | null = null;

  constructor(private readonly options: HardwareProbeOptions = {}) {}

  private getLlama(): Promise<Llama> {
    this.llama ??= (async () => {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      return getLlama({ gpu: this.options.gpu ?? 'auto', build: 'never', maxThreads: 1, logLevel: LlamaLogLevel.error });
    })();
    return this.llama;
  }

  /** The GPU backend node-llama-cpp uses here, or false. */
  async backend(): Promise<Llama['gpu']> {
    try {
      return (await this.getLlama()).gpu;
    } catch {
      return false;
    }
  }

  async devices(): Promise<DeviceInfo[]> {
    const cpu: DeviceInfo = { id: 'cpu', type: 'cpu', name: cpus()[0]?.model.trim() ?? 'CPU', memory_total: totalmem(), memory_free: freemem() };
    let llama: Llama;
    try {
      llama = await this.getLlama();
    } catch {
      return [cpu];
    }
    if (llama.gpu === false) return [cpu];
    if (llama.gpu === 'cuda') {
      const perGpu = await (this.options.cudaDevices ?? queryNvidiaSmi)().catch(() => null);
      if (perGpu && perGpu.length > 0) return [...perGpu, cpu];
    }
    // One entry for what node-llama-cpp reports (its VRAM state sums every device it sees).
    const [vram, names] = await Promise.all([llama.getVramState(), llama.getGpuDeviceNames().catch(() => [] as string[])]);
    const gpu: DeviceInfo = {
      id: 'gpu0',
      type: llama.gpu,
      name: names.length > 0 ? names.join(', ') : llama.gpu,
      memory_total: vram.total,
      memory_free: vram.free,
    };
    return [gpu, cpu];
  }

  /**
   * node-llama-cpp's estimate for the model plus a context of `ctx` tokens × `slots` sequences, at
   * every layer count from 0 to all.
   */
  async offloadTable(request: EstimateRequest): Promise<OffloadTable> {
    const [{ readGgufFileInfo, GgufInsights, GgmlType }, llama] = await Promise.all([import('node-llama-cpp'), this.getLlama()]);
    const info = await readGgufFileInfo(request.modelPath, { logWarnings: false, sourceType: 'filesystem' });
    const insights = await GgufInsights.from(info, llama);
    const kv = request.kvCacheType ? GgmlType[request.kvCacheType.toUpperCase() as keyof typeof GgmlType] : undefined;
    const totalLayers = insights.totalLayers;
    const contextSize = Math.min(request.ctx, insights.trainContextSize ?? request.ctx);
    const byLayers: MemoryNeed[] = [];
    // The synchronous (V1) estimators are plain arithmetic over the header, the same on every
    // machine: the V2 ones ask the loaded backend and report no VRAM at all where it has no GPU.
    // useMmap false: weights that stay on the CPU are counted as RAM they will occupy (conservative).
    for (let gpuLayers = 0; gpuLayers <= totalLayers; gpuLayers++) {
      const model = insights.estimateModelResourceRequirements({ gpuLayers, useMmap: false });
      const context = insights.estimateContextResourceRequirements({
        contextSize,
        modelGpuLayers: gpuLayers,
        sequences: request.slots,
        ...(request.batchSize !== undefined ? { batchSize: request.batchSize } : {}),
        ...(request.flashAttention !== undefined ? { flashAttention: request.flashAttention } : {}),
        ...(kv !== undefined ? { kvCacheKeyType: kv, kvCacheValueType: kv } : {}),
      });
      byLayers.push({ ram: model.cpuRam + context.cpuRam, vram: model.gpuVram + context.gpuVram });
    }
    return { totalLayers, byLayers };
  }

  async dispose(): Promise<void> {
    const llama = this.llama;
    this.llama = null;
    if (llama) await (await llama.catch(() => null))?.dispose();
  }
}
