import { parseArgs } from 'node:util';
import { parseOrUsage, UsageError } from '../usageError.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import type { WorkerEntry } from '../../../src-shared/control/workerSpecTypes.js';
import { parseDevice, parseGpuLayers } from '../../../src-shared/worker/gpuOptions.js';
import { intOption } from '../intOption.js';
import { describeFailure, queenConnection } from '../queenClient.js';
import { table } from '../table.js';

const USAGE = `usage: rbee workers add --hive H --model M [--id ID] [--device auto|cpu|gpu|gpuN] [--gpu-layers auto|max|N]
                   [--ctx N] [--slots N] [--threads N] [--idle-ttl-ms N] [--disabled] [--hot-spare] [--json]
       rbee workers remove|rm HIVE/ID      (stops the worker, removes its entry and its spec)
       rbee workers [list|ls] [--json]     (declared specs joined with their workers' state)
  common: --url URL (the queen; default $RBEE_URL or http://127.0.0.1:7833), --token-file PATH, --data-dir DIR
  A spec is desired state: the queen keeps it and starts its worker whenever its hive is connected.
`;

const CONNECTION = { url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' } } as const;
type Connection = { url?: string; 'token-file'?: string; 'data-dir'?: string };


/** `rbee workers add|list|remove` (ls/rm aliases) through the queen's control API. */
export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === undefined || verb.startsWith('-')) {
      if (verb === '--help' || verb === '-h') {
        process.stdout.write(USAGE);
        return 0;
      }
      return await list(argv);
    }
    if (verb === 'list' || verb === 'ls') return await list(rest);
    if (verb === 'add') return await add(rest);
    if (verb === 'remove' || verb === 'rm') return await remove(rest);
    if (verb === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    throw new UsageError(`unknown verb '${verb}'`);
  } catch (error) {
    process.stderr.write(`rbee workers: ${(error as Error).message}\n${error instanceof UsageError ? USAGE : ''}`);
    return error instanceof UsageError ? 2 : 1;
  }
}


async function call(values: Connection, method: string, path: string, body?: unknown): Promise<Response> {
  const { url, headers } = await queenConnection(values);
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error(`cannot reach the queen at ${url}: ${(error as Error).message}`);
  }
  if (!res.ok) throw new Error(await describeFailure(res));
  return res;
}

async function add(argv: string[]): Promise<number> {
  const options = {
    ...CONNECTION,
    hive: { type: 'string' },
    model: { type: 'string' },
    id: { type: 'string' },
    device: { type: 'string' },
    'gpu-layers': { type: 'string' },
    ctx: { type: 'string' },
    slots: { type: 'string' },
    threads: { type: 'string' },
    'idle-ttl-ms': { type: 'string' },
    disabled: { type: 'boolean' },
    'hot-spare': { type: 'boolean' },
    json: { type: 'boolean' },
  } as const;
  const { values } = parseOrUsage(() => parseArgs({ args: argv, strict: true, options }));
  if (typeof values.hive !== 'string') throw new UsageError('--hive is required');
  if (typeof values.model !== 'string') throw new UsageError('--model is required');
  const number = (flag: 'ctx' | 'slots' | 'threads' | 'idle-ttl-ms', min: number, max: number): number | undefined => {
    try {
      return intOption(flag, values[flag], min, max);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  };
  const device = values.device === undefined ? undefined : parseDevice(values.device);
  if (device === null) throw new UsageError(`--device must be auto, cpu, gpu or gpuN, got '${values.device}'`);
  const gpuLayers = values['gpu-layers'] === undefined ? undefined : parseGpuLayers(values['gpu-layers']);
  if (gpuLayers === null) throw new UsageError(`--gpu-layers must be auto, max or a layer count, got '${values['gpu-layers']}'`);
  const body = {
    hive_id: values.hive,
    model: values.model,
    id: values.id,
    device,
    gpu_layers: gpuLayers,
    ctx: number('ctx', 64, 1_048_576),
    slots: number('slots', 1, 64),
    threads: number('threads', 1, 256),
    idle_ttl_ms: number('idle-ttl-ms', 1_000, 7 * 86_400_000),
    enabled: values.disabled ? false : undefined,
    hot_spare: values['hot-spare'] ? true : undefined,
  };
  // JSON drops the fields left undefined: the queen applies its defaults to them.
  const res = await call(values, 'POST', ControlRoutes.workers, JSON.parse(JSON.stringify(body)));
  const entry = (await res.json()) as WorkerEntry;
  if (values.json) process.stdout.write(`${JSON.stringify(entry, null, 2)}\n`);
  else process.stdout.write(`declared ${entry.hive}/${entry.id} (${entry.spec?.model ?? values.model})${entry.worker ? `: worker ${entry.worker.state}` : entry.spec?.enabled === false ? ': disabled' : ': starts when its hive is connected'}\n`);
  return 0;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parseOrUsage(() => parseArgs({ args: argv, strict: true, allowPositionals: true, options: CONNECTION }));
  const target = positionals.length === 1 ? /^([^/]+)\/([^/]+)$/.exec(positionals[0]!) : null;
  if (!target) throw new UsageError('name exactly one worker as HIVE/ID');
  await call(values, 'DELETE', ControlRoutes.worker(target[1]!, target[2]!));
  process.stdout.write(`removed ${target[1]}/${target[2]}\n`);
  return 0;
}

/** How a row's spec reads: `enabled`, `disabled`, `ephemeral`, or `-` for a worker no spec declares. */
function specColumn(entry: WorkerEntry): string {
  if (!entry.spec) return '-';
  if (entry.spec.ephemeral) return 'ephemeral';
  return `${entry.spec.enabled ? 'enabled' : 'disabled'}${entry.spec.hot_spare ? '+spare' : ''}`;
}

function ttlColumn(entry: WorkerEntry): string {
  const ttl = entry.spec?.idle_ttl_ms;
  if (ttl === undefined) return '-';
  if (ttl === null) return 'never';
  return ttl % 60_000 === 0 ? `${ttl / 60_000}m` : `${ttl / 1000}s`;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseOrUsage(() => parseArgs({ args: argv, strict: true, options: { ...CONNECTION, json: { type: 'boolean' } } }));
  const res = await call(values, 'GET', ControlRoutes.workers);
  const { workers } = (await res.json()) as { workers: WorkerEntry[] };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(workers, null, 2)}\n`);
    return 0;
  }
  const rows = [['HIVE', 'WORKER', 'MODEL', 'STATE', 'SPEC', 'IDLE TTL', 'PID', 'SLOTS', 'RESTARTS', 'BREAKER', 'LAST EXIT']];
  for (const entry of workers) {
    const w = entry.worker;
    const exit = w?.last_exit ? `${w.last_exit.signal ?? `code ${w.last_exit.code}`} (${w.last_exit.reason})` : '-';
    rows.push([
      entry.hive,
      entry.id,
      entry.spec?.model ?? w?.model ?? '-',
      w?.state ?? (entry.spec?.enabled === false ? 'disabled' : 'pending'),
      specColumn(entry),
      ttlColumn(entry),
      String(w?.pid ?? '-'),
      w ? `${w.slots.total - w.slots.free}/${w.slots.total}` : '-',
      String(w?.restart_count ?? '-'),
      w?.breaker.state ?? '-',
      exit,
    ]);
  }
  process.stdout.write(`${table(rows)}\n`);
  return 0;
}
