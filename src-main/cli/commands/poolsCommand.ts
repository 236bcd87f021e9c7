import { readFile } from 'node:fs/promises';
import { parseOrUsage, UsageError } from '../usageError.js';
import { parseArgs } from 'node:util';
import type { PoolInfo, PoolTestResult } from '../../../src-shared/control/poolSchemas.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import { intOption } from '../intOption.js';
import { describeFailure, queenConnection } from '../queenClient.js';
import { table } from '../table.js';

const USAGE = `usage: rbee pools add NAME --base-url URL [--api-key-file F] [--models a,b|alias=upstream] [--max-concurrent N]
                 [--max-queued N] [--ca-file F] [--connect-timeout-ms N] [--first-byte-timeout-ms N] [--health-period-ms N]
                 [--breaker-failures N] [--breaker-cooldown-ms N] [--fallback] [--replace]
       rbee pools list|ls [--json]
       rbee pools remove|rm NAME
       rbee pools test NAME
       rbee pools reset NAME          (close the pool's circuit breaker)
  common: --url URL (the queen; default $RBEE_URL or http://127.0.0.1:7833), --token-file PATH, --data-dir DIR
  A pool is an external OpenAI-compatible engine; clients name its models POOL/MODEL (docs/pools.md).
  The key file is read here and sent once; the queen keeps it (0600 headless, safeStorage in the
  desktop app) and shows only token:<fp6>.
  --fallback: the pool also serves bare model names the hives serve, when no hive can (hives first).
`;

const CONNECTION = { url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' } } as const;
type Connection = { url?: string; 'token-file'?: string; 'data-dir'?: string };


/** `rbee pools add|list|remove|test|reset` (ls/rm aliases) through the queen's control API. */
export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === 'add') return await add(rest);
    if (verb === 'list' || verb === 'ls' || verb === undefined) return await list(rest);
    if (verb === 'remove' || verb === 'rm') return await simple(rest, 'DELETE', (name) => ControlRoutes.pool(name), () => 'removed');
    if (verb === 'test') return await test(rest);
    if (verb === 'reset') return await simple(rest, 'POST', (name) => ControlRoutes.poolAction(name, 'reset-breaker'), (name) => `breaker of ${name} closed`);
    if (verb === '--help' || verb === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    throw new UsageError(`unknown verb '${verb}'`);
  } catch (error) {
    process.stderr.write(`rbee pools: ${(error as Error).message}\n${error instanceof UsageError ? USAGE : ''}`);
    return error instanceof UsageError ? 2 : 1;
  }
}


const JSON_FLAG = { ...CONNECTION, json: { type: 'boolean' } } as const;

function onlyName(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError('name exactly one pool');
  return positionals[0]!;
}

async function call(values: Connection, method: string, path: string, body?: unknown): Promise<Response> {
  const { url, headers } = await queenConnection(values);
  try {
    return await fetch(`${url}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error(`cannot reach the queen at ${url}: ${(error as Error).message}`);
  }
}

async function expectOk(res: Response): Promise<void> {
  if (!res.ok) throw new Error(await describeFailure(res));
}

async function add(argv: string[]): Promise<number> {
  const options = {
    ...CONNECTION,
    'base-url': { type: 'string' },
    'api-key-file': { type: 'string' },
    models: { type: 'string' },
    'max-concurrent': { type: 'string' },
    'max-queued': { type: 'string' },
    'ca-file': { type: 'string' },
    'connect-timeout-ms': { type: 'string' },
    'first-byte-timeout-ms': { type: 'string' },
    'health-period-ms': { type: 'string' },
    'breaker-failures': { type: 'string' },
    'breaker-cooldown-ms': { type: 'string' },
    fallback: { type: 'boolean' },
    replace: { type: 'boolean' },
    json: { type: 'boolean' },
  } as const;
  const { values, positionals } = parseOrUsage(() => parseArgs({ args: argv, strict: true, allowPositionals: true, options }));
  const name = onlyName(positionals);
  const baseUrl = values['base-url'];
  if (typeof baseUrl !== 'string') throw new UsageError('--base-url is required (the engine\'s OpenAI base, e.g. http://host:8000/v1)');
  const number = (flag: 'max-concurrent' | 'max-queued' | 'connect-timeout-ms' | 'first-byte-timeout-ms' | 'health-period-ms' | 'breaker-failures' | 'breaker-cooldown-ms', min: number, max: number): number | undefined => {
    try {
      return intOption(flag, values[flag], min, max);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  };
  const keyFile = values['api-key-file'];
  const apiKey = typeof keyFile === 'string' ? (await readFile(keyFile, 'utf8')).trim() : undefined;
  if (apiKey === '') throw new UsageError(`${String(keyFile)} is empty`);
  const body = {
    name,
    base_url: baseUrl,
    ...(apiKey ? { api_key: apiKey } : {}),
    ...(typeof values.models === 'string' ? { models: values.models.split(',').map((m) => m.trim()).filter(Boolean) } : {}),
    ...(typeof values['ca-file'] === 'string' ? { ca_file: values['ca-file'] } : {}),
    max_concurrent: number('max-concurrent', 1, 4096),
    max_queued: number('max-queued', 0, 65_536),
    connect_timeout_ms: number('connect-timeout-ms', 10, 120_000),
    first_byte_timeout_ms: number('first-byte-timeout-ms', 10, 600_000),
    health_period_ms: number('health-period-ms', 100, 3_600_000),
    breaker_failures: number('breaker-failures', 1, 1000),
    breaker_cooldown_ms: number('breaker-cooldown-ms', 100, 86_400_000),
    ...(values.fallback ? { fallback: true } : {}),
    ...(values.replace ? { replace: true } : {}),
  };
  const res = await call(values, 'POST', ControlRoutes.pools, JSON.parse(JSON.stringify(body)));
  await expectOk(res);
  const { pool, status } = (await res.json()) as { pool: PoolInfo; status: string };
  if (values.json) process.stdout.write(`${JSON.stringify(pool, null, 2)}\n`);
  else {
    const key = pool.key_fingerprint ? ` (key ${pool.key_fingerprint}${pool.key_storage === 'session' ? ', kept for this session only: the OS cannot seal secrets' : ''})` : '';
    process.stdout.write(`pool ${pool.name} ${status}: ${pool.base_url}${key}; models are named ${pool.name}/MODEL\n`);
  }
  return 0;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseOrUsage(() => parseArgs({ args: argv, strict: true, options: JSON_FLAG }));
  const res = await call(values, 'GET', ControlRoutes.pools);
  await expectOk(res);
  const { pools } = (await res.json()) as { pools: PoolInfo[] };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(pools, null, 2)}\n`);
    return 0;
  }
  const rows = [['POOL', 'BASE URL', 'HEALTH', 'BREAKER', 'IN FLIGHT', 'LATENCY', 'KEY', 'FALLBACK', 'MODELS']];
  for (const p of pools) {
    rows.push([
      p.name,
      p.base_url,
      p.health,
      p.breaker.state,
      `${p.in_flight}/${p.tuning.max_concurrent}${p.queued > 0 ? ` +${p.queued} queued` : ''}`,
      p.latency_ms === null ? '-' : `${p.latency_ms} ms`,
      p.key_storage === null ? '-' : `${p.key_fingerprint ?? 'lost'} (${p.key_storage})`,
      p.fallback ? 'yes' : 'no',
      p.models.map((m) => (m.id === m.upstream ? m.id : `${m.id}=${m.upstream}`)).join(',') || '-',
    ]);
  }
  process.stdout.write(`${table(rows)}\n`);
  return 0;
}

async function test(argv: string[]): Promise<number> {
  const { values, positionals } = parseOrUsage(() => parseArgs({ args: argv, strict: true, allowPositionals: true, options: JSON_FLAG }));
  const res = await call(values, 'POST', ControlRoutes.poolAction(onlyName(positionals), 'test'));
  await expectOk(res);
  const result = (await res.json()) as PoolTestResult;
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (result.ok) process.stdout.write(`ok in ${result.latency_ms} ms; models: ${result.models.join(', ') || '(none)'}\n`);
  else process.stdout.write(`failed after ${result.latency_ms} ms: ${result.error ?? 'unknown error'}\n`);
  return result.ok ? 0 : 1;
}

async function simple(argv: string[], method: string, path: (name: string) => string, done: (name: string) => string): Promise<number> {
  const { values, positionals } = parseOrUsage(() => parseArgs({ args: argv, strict: true, allowPositionals: true, options: CONNECTION }));
  const name = onlyName(positionals);
  await expectOk(await call(values, method, path(name)));
  process.stdout.write(`${done(name)}\n`);
  return 0;
}
