import { chmod } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { intOption } from '../intOption.js';
import type { GpuLayers, KvCacheType } from '../../../src-shared/cluster/WorkerInfo.js';
import { KV_CACHE_TYPES, parseDevice, parseGpuLayers } from '../../../src-shared/worker/gpuOptions.js';
import { WORKER_TOKEN_ENV, type WorkerMessage } from '../../../src-shared/worker/workerMessages.js';
import { auditSinkFromEnv } from '../../audit/index.js';
import { checkBindPolicy } from '../../auth/bindPolicy.js';
import { loadToken } from '../../auth/loadToken.js';
import { createLogger } from '../../common/log/createLogger.js';
import { announce } from '../../common/process/announce.js';
import { onTerminationSignals } from '../../common/process/onTerminationSignals.js';
import { watchParent } from '../../common/process/watchParent.js';
import { defaultThreadCount, ModelRuntime } from '../../worker/ModelRuntime.js';
import { WorkerServer } from '../../worker/WorkerServer.js';
import { removeStaleSocket } from '../../common/http/socketDir.js';

const USAGE = `usage: rbee worker --model <file.gguf> [options]
  --model PATH        GGUF file to serve (required)
  --model-name NAME   name callers use (default: the file name)
  --host HOST         bind address (default 127.0.0.1)
  --port N            0 = ephemeral (default 0); the bound port is printed as JSON on stdout
  --socket PATH       listen on this Unix socket instead of a TCP port (remote hives; its folder
                      should be 0700); a stale socket file there is replaced
  --id ID             worker id (default: worker-<pid>)
  --device D          auto | cpu | gpu | gpu0, gpu1 … (default auto; the hive pins gpuN through the
                      backend's device environment, e.g. CUDA_VISIBLE_DEVICES)
  --gpu-layers L      auto | max | N layers on the GPU (default auto; 0 = CPU only)
  --batch-size N      tokens per evaluation batch (default min(512, ctx))
  --flash-attention B on | off (default: node-llama-cpp's auto)
  --kv-cache-type T   ${KV_CACHE_TYPES.join(' | ')} (default f16; quantized V needs flash attention)
  --threads N         CPU threads (default: half the cores, at least 1)
  --ctx N             context size in tokens (default 2048, capped by the model)
  --slots N           concurrent requests (default 2)
  --token-file PATH   bearer token file (else env ${WORKER_TOKEN_ENV}; never on the command line)
  --drain-ms N        on shutdown, wait this long for running jobs before cancelling (default 5000)
  --stream-flush-ms N gather tokens this long per write after the first (default 10; 0 = every token)
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        model: { type: 'string' },
        'model-name': { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string' },
        socket: { type: 'string' },
        id: { type: 'string' },
        device: { type: 'string', default: 'auto' },
        'gpu-layers': { type: 'string' },
        'batch-size': { type: 'string' },
        'flash-attention': { type: 'string' },
        'kv-cache-type': { type: 'string' },
        threads: { type: 'string' },
        ctx: { type: 'string' },
        slots: { type: 'string' },
        'token-file': { type: 'string' },
        'drain-ms': { type: 'string' },
        'stream-flush-ms': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    process.stderr.write(`rbee worker: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.model) {
    process.stderr.write(`rbee worker: --model is required\n${USAGE}`);
    return 2;
  }
  const device = parseDevice(values.device);
  if (!device) {
    process.stderr.write(`rbee worker: --device must be auto, cpu, gpu or gpu0, gpu1 …, got '${values.device.slice(0, 40)}'\n`);
    return 2;
  }
  const gpuLayers: GpuLayers | null = values['gpu-layers'] === undefined ? 'auto' : parseGpuLayers(values['gpu-layers']);
  if (gpuLayers === null) {
    process.stderr.write(`rbee worker: --gpu-layers must be auto, max or a layer count (0-1024), got '${String(values['gpu-layers']).slice(0, 40)}'\n`);
    return 2;
  }
  const flashRaw = values['flash-attention'];
  if (flashRaw !== undefined && flashRaw !== 'on' && flashRaw !== 'off') {
    process.stderr.write(`rbee worker: --flash-attention must be on or off, got '${flashRaw.slice(0, 40)}'\n`);
    return 2;
  }
  const kvCacheType = values['kv-cache-type'] as KvCacheType | undefined;
  if (kvCacheType !== undefined && !(KV_CACHE_TYPES as readonly string[]).includes(kvCacheType)) {
    process.stderr.write(`rbee worker: --kv-cache-type must be one of ${KV_CACHE_TYPES.join(', ')}, got '${kvCacheType.slice(0, 40)}'\n`);
    return 2;
  }
  let port: number, threads: number, slots: number, ctx: number, drainMs: number, streamFlushMs: number, batchSize: number | undefined;
  try {
    batchSize = intOption('batch-size', values['batch-size'], 1, 65_536);
    port = intOption('port', values.port, 0, 65535) ?? 0;
    threads = intOption('threads', values.threads, 1, 256) ?? defaultThreadCount(availableParallelism());
    slots = intOption('slots', values.slots, 1, 64) ?? 2;
    ctx = intOption('ctx', values.ctx, 64, 1_048_576) ?? 2048;
    drainMs = intOption('drain-ms', values['drain-ms'], 0, 600_000) ?? 5000;
    streamFlushMs = intOption('stream-flush-ms', values['stream-flush-ms'], 0, 1000) ?? 10;
  } catch (error) {
    process.stderr.write(`rbee worker: ${(error as Error).message}\n`);
    return 2;
  }

  const workerId = values.id ?? `worker-${process.pid}`;
  const modelName = values['model-name'] ?? basename(values.model);
  const token = await loadToken({ file: values['token-file'], env: WORKER_TOKEN_ENV });
  if (!token) {
    process.stderr.write(`rbee worker: a token is required (env ${WORKER_TOKEN_ENV} or --token-file); its hive hands one to each worker\n`);
    return 1;
  }
  const refusal = checkBindPolicy(values.host, token);
  if (refusal) {
    process.stderr.write(`rbee worker: ${refusal}\n`);
    return 1;
  }
  const logger = createLogger('worker').child({ worker_id: workerId });
  // LLORCH_AUDIT_MODE / LLORCH_AUDIT_DIR arrive from the hive's environment: one chain per worker id.
  let audit;
  try {
    audit = await auditSinkFromEnv(`worker:${workerId}`, process.env, {
      secrets: () => [token],
      onError: (error) => logger.warn({ err: error }, 'audit write failed'),
    });
  } catch (error) {
    process.stderr.write(`rbee worker: ${(error as Error).message}\n`);
    return 1;
  }

  let shuttingDown: Promise<void> | undefined;
  const server = new WorkerServer({
    workerId,
    modelName,
    token,
    host: values.host,
    logger,
    audit,
    streamFlushMs,
    onShutdownRequested: () => void shutdown('http'),
  });
  let runtime: ModelRuntime | undefined;
  const loadAbort = new AbortController();

  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  /** Idempotent: SIGTERM, SIGINT, POST /v1/shutdown and a vanished parent all end here. */
  const shutdown = (why: string, code = 0): Promise<void> => {
    shuttingDown ??= (async () => {
      logger.info({ why, in_flight: server.inFlight }, 'shutting down');
      loadAbort.abort();
      await server.drain(drainMs);
      await server.app.close();
      await runtime?.dispose();
      await audit.close();
      logger.flush();
      // The IPC channel (and the listener watching it) would keep a forked worker alive forever.
      stopWatchingParent();
      if (process.connected) process.disconnect();
    })().then(
      () => resolveExit(code),
      (error: unknown) => {
        process.stderr.write(`rbee worker: shutdown failed: ${String(error)}\n`);
        resolveExit(1);
      },
    );
    return shuttingDown;
  };
  const stopWatchingParent = watchParent(() => void shutdown('parent gone'));
  onTerminationSignals((signal) => void shutdown(signal));

  const socket = values.socket;
  let boundPort = 0;
  if (socket !== undefined) {
    await removeStaleSocket(socket);
    await server.app.listen({ path: socket });
    await chmod(socket, 0o600);
  } else {
    boundPort = Number(new URL(await server.app.listen({ host: values.host, port })).port);
  }
  const where = socket === undefined ? {} : { socket };
  const tell = (m: WorkerMessage): void => announce(m);
  tell({ event: 'listening', port: boundPort, ...where, pid: process.pid, worker_id: workerId });

  let lastAnnounced = 0;
  try {
    runtime = await ModelRuntime.load({
      modelPath: values.model,
      device,
      threads,
      contextSize: ctx,
      slots,
      gpuLayers,
      batchSize,
      flashAttention: flashRaw === undefined ? undefined : flashRaw === 'on',
      kvCacheType,
      signal: loadAbort.signal,
      onLoadProgress: (progress) => {
        server.setLoadProgress(progress);
        // A tenth at a time: enough for a progress bar, not a flood of lines.
        if (progress === 1 || progress - lastAnnounced >= 0.1) {
          lastAnnounced = progress;
          tell({ event: 'load_progress', progress, worker_id: workerId });
        }
      },
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!shuttingDown) {
      server.setLoadError(message);
      tell({ event: 'load_failed', message, worker_id: workerId });
      logger.error({ err: error }, 'model load failed');
      process.stderr.write(`rbee worker: cannot load ${values.model}: ${message}\n`);
      await shutdown('load failed', 1);
    }
    return exited;
  }
  server.attachRuntime(runtime);
  tell({
    event: 'ready',
    port: boundPort,
    ...where,
    pid: process.pid,
    worker_id: workerId,
    model: modelName,
    slots,
    device: runtime.device,
    offload: runtime.offload,
    vram_measured_bytes: runtime.vramMeasuredBytes,
  });
  logger.info({ port: boundPort, ...where, model: modelName, device: runtime.device, offload: runtime.offload, threads, slots, ctx }, 'ready');
  return exited;
}
