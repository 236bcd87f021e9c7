import { parseArgs } from 'node:util';
import type { ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import { describeFailure, queenConnection } from '../queenClient.js';
import { table } from '../table.js';

/** `rbee models`: the models every hive has, as a table. */
export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } } }));
  } catch (error) {
    process.stderr.write(`rbee models: ${(error as Error).message}\nusage: rbee models [--url URL] [--token-file PATH] [--json]\n`);
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
