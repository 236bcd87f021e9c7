import type { DeviceInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { EstimateRequest, GpuBackend, MemoryNeed, OffloadTable } from '../../src-shared/hive/probeWire.js';
// Type-only: erased at compile time; the module itself is imported lazily, once, below.
import type { Llama } from 'node-llama-cpp';

export interface LlamaProbeOptions {
  /** GPU backend to probe: 'auto' lets node-llama-cpp pick (CUDA, Vulkan, Metal); false = CPU only. Defaults to 'auto'. */
  gpu?: 'auto' | false;
  /** Where node-llama-cpp's log lines go. Defaults to stderr (the probe child's stdout is its protocol). */
  log?: (line: string) => void;
}

/**
 * node-llama-cpp's view of this machine and of a model's memory needs. Runs only inside the probe
 * child (`rbee probe`): loading the binding costs the process ~40 MB of JavaScript and, with a GPU
 * backend, its driver libraries, which a hive would otherwise carry for its whole life. The binding
 * is loaded once per child, without building anything.
 */
export class LlamaProbe {
  private llama: Promise<Llama> | null = null;

  constructor(private readonly options: LlamaProbeOptions = {}) {}

  private getLlama(): Promise<Llama> {
    this.llama ??= (async () => {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      const log = this.options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
      return getLlama({
        gpu: this.options.gpu ?? 'auto',
        build: 'never',
        maxThreads: 1,
        logLevel: LlamaLogLevel.error,
        logger: (level, message) => log(`[${level}] ${message}`),
      });
    })();
    return this.llama;
  }

  /**
   * The GPU backend and what node-llama-cpp reports for it: one entry summing every device it sees
   * (the hive asks nvidia-smi for per-GPU figures on CUDA). A binding that does not load means no GPU.
   */
  async devices(): Promise<{ backend: GpuBackend; gpus: DeviceInfo[] }> {
    let llama: Llama;
    try {
      llama = await this.getLlama();
    } catch {
      return { backend: false, gpus: [] };
    }
    if (llama.gpu === false) return { backend: false, gpus: [] };
    const [vram, names] = await Promise.all([llama.getVramState(), llama.getGpuDeviceNames().catch(() => [] as string[])]);
    const gpu: DeviceInfo = {
      id: 'gpu0',
      type: llama.gpu,
      name: names.length > 0 ? names.join(', ') : llama.gpu,
      memory_total: vram.total,
      memory_free: vram.free,
    };
    return { backend: llama.gpu, gpus: [gpu] };
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
