import { cpus, freemem, totalmem } from 'node:os';
import type { DeviceInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { Device } from '../../src-shared/cluster/WorkerInfo.js';
// Type-only: erased at compile time, so node-llama-cpp is still loaded lazily (dynamic import below).
import type { Llama } from 'node-llama-cpp';


export interface MemoryEstimate {
  /** Bytes of system RAM the worker will need. */
  ram: number;
  /** Bytes of GPU memory the worker will need (0 on CPU). */
  vram: number;
  /** Whether the estimate assumed GPU offload. */
  gpu: boolean;
}

export interface HardwareProbeOptions {
  /** GPU backend to probe: 'auto' lets node-llama-cpp pick (CUDA, Vulkan, Metal); false = CPU only. Defaults to 'auto'. */
  gpu?: 'auto' | false;
}

/**
 * What this machine has (node-llama-cpp's view: GPU type, VRAM total/free; CPU and RAM otherwise)
 * and what a model will need there (node-llama-cpp's GGUF insights). The llama binding is loaded
 * lazily, once, without building anything.
 */
export class HardwareProbe {
  private llama: Promise<Llama> | null = null;

  constructor(private readonly options: HardwareProbeOptions = {}) {}

  private getLlama(): Promise<Llama> {
    this.llama ??= (async () => {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      return getLlama({ gpu: this.options.gpu ?? 'auto', build: 'never', maxThreads: 1, logLevel: LlamaLogLevel.error });
    })();
    return this.llama;
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

  /** node-llama-cpp's estimate for the model plus a context of `ctx` tokens × `slots` sequences. */
  async estimate(modelPath: string, request: { ctx: number; slots: number; device: Device }): Promise<MemoryEstimate> {
    const [{ readGgufFileInfo, GgufInsights }, llama] = await Promise.all([import('node-llama-cpp'), this.getLlama()]);
    const info = await readGgufFileInfo(modelPath, { logWarnings: false, sourceType: 'filesystem' });
    const insights = await GgufInsights.from(info, llama);
    const gpu = request.device !== 'cpu' && llama.gpu !== false;
    const gpuLayers = gpu ? insights.totalLayers : 0;
    const model = await insights.estimateModelResourceRequirementsV2({ gpuLayers });
    const context = await insights.estimateContextResourceRequirementsV2({ contextSize: request.ctx, modelGpuLayers: gpuLayers, sequences: request.slots });
    return { ram: model.cpuRam + context.cpuRam, vram: model.gpuVram + context.gpuVram, gpu };
  }

  async dispose(): Promise<void> {
    const llama = this.llama;
    this.llama = null;
    if (llama) await (await llama.catch(() => null))?.dispose();
  }
}
