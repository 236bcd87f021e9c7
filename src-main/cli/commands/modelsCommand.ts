import { parseArgs } from 'node:util';
import type { ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import { describeFailure, queenConnection } from '../queenClient.js';
import { table } from '../table.js';
import { PUSH_USAGE, runPush } from './modelsPush.js';

const USAGE = `usage: rbee models [list|ls] [--url URL] [--token-file PATH] [--json]
       rbee models remove|rm HIVE/MODEL [--url URL] [--token-file PATH]   (refused while a worker or a spec uses it)
       ${PUSH_USAGE.replace('usage: ', '')}
`;

/** `rbee models` / `models list|ls`: the models every hive has, as a table; `models remove|rm HIVE/MODEL` deletes one. */
export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'remove' || verb === 'rm') return remove(rest);
  if (verb === 'push') return runPush(rest);
  return list(verb === 'list' || verb === 'ls' ? rest : argv);
}

async function remove(argv: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' } } }));
  } catch (error) {
    process.stderr.write(`rbee models: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const target = positionals[0] ?? '';
  const slash = target.indexOf('/');
  if (positionals.length !== 1 || slash <= 0 || slash === target.length - 1) {
    process.stderr.write(`rbee models remove: name one model as HIVE/MODEL (e.g. local/my.gguf)\n${USAGE}`);
    return 2;
  }
  const { url, headers } = await queenConnection(values);
  let res: Response;
  try {
    res = await fetch(`${url}${ControlRoutes.hiveModel(target.slice(0, slash), target.slice(slash + 1))}`, { method: 'DELETE', headers });
  } catch (error) {
    process.stderr.write(`rbee models: cannot reach the queen at ${url}: ${(error as Error).message}\n`);
    return 1;
  }
  if (!res.ok) {
    process.stderr.write(`rbee models remove: ${await describeFailure(res)}\n`);
    return 1;
  }
  process.stdout.write(`removed ${target}\n`);
  return 0;
}

async function list(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } } }));
  } catch (error) {
    process.stderr.write(`rbee models: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { url, headers } = await queenConnection(values);
  let res: Response;
  try {
    res = await fetch(`${url}${ControlRoutes.snapshot}`, { headers });
  } catch (error) {
    process.stderr.write(`rbee models: cannot reach the queen at ${url}: ${(error as Error).message}\n`);
    return 1;
  }
  if (!res.ok) {
    process.stderr.write(`rbee models: ${await describeFailure(res)}\n`);
    return 1;
  }
  const snapshot = (await res.json()) as ClusterSnapshot;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(snapshot.models, null, 2)}\n`);
    return 0;
  }
  const rows = [['MODEL', 'HIVE', 'SIZE', 'ARCH', 'QUANT', 'NOTE']];
  for (const m of snapshot.models) {
    rows.push([m.name, m.hive, `${(m.size_bytes / 1024 / 1024).toFixed(1)} MiB`, m.architecture ?? '-', m.quantization ?? '-', m.is_demo ? 'demo (random weights)' : '']);
  }
  process.stdout.write(`${table(rows)}\n`);
  return 0;
}
