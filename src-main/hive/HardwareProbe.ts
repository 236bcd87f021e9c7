import { stat } from 'node:fs/promises';
import { cpus, freemem, totalmem } from 'node:os';
import type { DeviceInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { EstimateRequest, GpuBackend, OffloadTable, ProbeReply } from '../../src-shared/hive/probeWire.js';
import { rbeeCommand } from '../common/rbeeCommand.js';
import type { MemoryEstimator } from './admission/MemoryEstimator.js';
import { queryNvidiaSmi } from './admission/nvidiaSmi.js';
import { ProbeChild, type ProbeLaunch } from './probe/ProbeChild.js';
import { ProbeError } from './probe/ProbeError.js';

export interface HardwareProbeOptions {
  /** GPU backend to probe: 'auto' lets node-llama-cpp pick (CUDA, Vulkan, Metal); false = CPU only. Defaults to 'auto'. */
  gpu?: 'auto' | false;
  /** Live per-GPU figures on CUDA. Defaults to running nvidia-smi (a plain child, no node-llama-cpp). */
  cudaDevices?: () => Promise<DeviceInfo[] | null>;
  /** How to start the probe child. Defaults to `rbeeCommand('probe', ['--gpu', …])` (the built bundle). */
  launch?: () => ProbeLaunch;
  /** A request with no answer after this long kills the child (`timeout`). Defaults to 60 s (a CUDA backend can take seconds to load). */
  timeoutMs?: number;
  /**
   * An idle child exits this long after its last answer. Defaults to 10 s: the start-up device probe
   * and the first spawns (a queen's specs, on-demand starts) share one child, instead of each paying
   * a child's start and node-llama-cpp's load (1–3 s on a busy 2-core machine) on the spawn path.
   */
  lingerMs?: number;
  /** After a failed device probe (CPU-only fallback), a read probes again once this much later. Defaults to 60 s. */
  retryMs?: number;
  /** Vulkan/Metal free VRAM is only known from a probe: a non-periodic read probes again when the last one is older. Defaults to 5 s. */
  maxGpuAgeMs?: number;
  /** Memory estimates kept (per model file and sizing). Defaults to 64. */
  maxEstimates?: number;
  now?: () => number;
}

type DeviceProbe = { ok: true; backend: GpuBackend; gpus: DeviceInfo[] } | { ok: false; error: ProbeError };

interface ProbeEntry {
  at: number;
  result: Promise<DeviceProbe>;
  settled: DeviceProbe | null;
}

/**
 * What this machine has and what a model needs there, for the hive's device view and admission.
 * node-llama-cpp never loads in the hive: a short-lived probe child (`rbee probe`) loads it, answers,
 * and exits; the hive caches the answers. The device probe runs once (again after `reprobe()`, after
 * a failure once `retryMs` has passed, and on Vulkan/Metal when figures are stale); RAM is read live
 * from the OS and CUDA figures live from nvidia-smi, neither of which needs the binding. Estimates
 * are cached per model file (path, size, mtime) and sizing.
 *
 * Failures never reach the hive as a crash: a device probe that fails leaves a CPU-only view (and
 * `lastError` says why); an estimate that fails rejects with a typed `ProbeError`, which admission
 * turns into a clear refusal (docs/hive.md "Probe child").
 */
export class HardwareProbe implements MemoryEstimator {
  private child: ProbeChild | null = null;
  private deviceProbe: ProbeEntry | null = null;
  private readonly estimates = new Map<string, Promise<OffloadTable>>();
  private disposed = false;
  private readonly now: () => number;
  /** Probe children started so far, and requests sent to them (tests read both). */
  childrenStarted = 0;
  requestsSent = 0;

  constructor(private readonly options: HardwareProbeOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Why the last device probe failed (the view is CPU only meanwhile); null after a good one. */
  get lastError(): ProbeError | null {
    const settled = this.deviceProbe?.settled;
    return settled && !settled.ok ? settled.error : null;
  }

  /** The pid of the probe child alive now, if any. */
  get childPid(): number | undefined {
    return this.child?.accepting ? this.child.pid : undefined;
  }

  /** The GPU backend node-llama-cpp uses here, or false (also when the probe fails). */
  async backend(): Promise<GpuBackend> {
    const probe = await this.probeDevices(false);
    return probe.ok ? probe.backend : false;
  }

  /**
   * The devices with their memory now. `periodic` reads (the monitor's timer) never start a probe
   * child for Vulkan/Metal figures; other reads do when the last probe is older than `maxGpuAgeMs`.
   */
  async devices(options: { periodic?: boolean } = {}): Promise<DeviceInfo[]> {
    const probe = await this.probeDevices(options.periodic ?? false);
    const cpu: DeviceInfo = { id: 'cpu', type: 'cpu', name: cpus()[0]?.model.trim() ?? 'CPU', memory_total: totalmem(), memory_free: freemem() };
    if (!probe.ok || probe.backend === false) return [cpu];
    if (probe.backend === 'cuda') {
      const perGpu = await (this.options.cudaDevices ?? queryNvidiaSmi)().catch(() => null);
      if (perGpu && perGpu.length > 0) return [...perGpu, cpu];
    }
    return [...probe.gpus, cpu];
  }

  /** The explicit refresh: forgets every cached answer and probes the devices again. */
  async reprobe(): Promise<DeviceInfo[]> {
    this.deviceProbe = null;
    this.estimates.clear();
    return this.devices();
  }

  /** node-llama-cpp's estimate at every layer count (cached per model file and sizing). */
  async offloadTable(request: EstimateRequest): Promise<OffloadTable> {
    const file = await stat(request.modelPath);
    const key = JSON.stringify([request.modelPath, file.size, file.mtimeMs, request.ctx, request.slots, request.batchSize, request.flashAttention, request.kvCacheType]);
    let table = this.estimates.get(key);
    if (!table) {
      table = this.ask({ kind: 'estimate', request }).then((reply) => {
        if (reply.kind !== 'estimate') throw new ProbeError('garbage', `probe child answered an estimate with '${reply.kind}'`);
        return reply.table;
      });
      this.estimates.set(key, table);
      // A failure is not remembered: the next admission asks again.
      table.catch(() => {
        if (this.estimates.get(key) === table) this.estimates.delete(key);
      });
      const max = this.options.maxEstimates ?? 64;
      for (const old of this.estimates.keys()) {
        if (this.estimates.size <= max) break;
        this.estimates.delete(old);
      }
    }
    return table;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const child = this.child;
    this.child = null;
    await child?.close();
  }

  private probeDevices(periodic: boolean): Promise<DeviceProbe> {
    const entry = this.deviceProbe;
    if (entry?.settled) {
      const age = this.now() - entry.at;
      const { settled } = entry;
      const retry = !settled.ok && age >= (this.options.retryMs ?? 60_000);
      const staleGpu = settled.ok && (settled.backend === 'vulkan' || settled.backend === 'metal') && !periodic && age >= (this.options.maxGpuAgeMs ?? 5_000);
      if (!retry && !staleGpu) return entry.result;
    } else if (entry) {
      return entry.result;
    }
    const next: ProbeEntry = {
      at: this.now(),
      settled: null,
      result: this.ask({ kind: 'devices' }).then(
        (reply): DeviceProbe => {
          if (reply.kind !== 'devices') return { ok: false, error: new ProbeError('garbage', `probe child answered a device probe with '${reply.kind}'`) };
          return { ok: true, backend: reply.backend, gpus: reply.gpus };
        },
        (error: unknown): DeviceProbe => ({ ok: false, error: error instanceof ProbeError ? error : new ProbeError('failed', String(error)) }),
      ),
    };
    void next.result.then((settled) => {
      next.settled = settled;
    });
    this.deviceProbe = next;
    return next.result;
  }

  /** Sends a request to the live child, or to a new one. */
  private ask(request: { kind: 'devices' } | { kind: 'estimate'; request: EstimateRequest }): Promise<ProbeReply> {
    if (this.disposed) return Promise.reject(new ProbeError('closed', 'the hive is shutting down'));
    if (!this.child?.accepting) {
      let launch: ProbeLaunch;
      try {
        launch = this.options.launch?.() ?? rbeeCommand('probe', ['--gpu', this.options.gpu === false ? 'off' : 'auto']);
      } catch (error) {
        return Promise.reject(new ProbeError('spawn_failed', error instanceof Error ? error.message : String(error)));
      }
      this.child = new ProbeChild(launch, { timeoutMs: this.options.timeoutMs ?? 60_000, lingerMs: this.options.lingerMs ?? 10_000 });
      this.childrenStarted++;
    }
    this.requestsSent++;
    return this.child.send(request);
  }
}
