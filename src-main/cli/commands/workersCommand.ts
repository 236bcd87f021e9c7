import { parseArgs } from 'node:util';
import type { ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';
import { describeFailure, queenConnection } from '../queenClient.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

/** `rbee workers` (and `rbee models` with `kind: 'models'`): the cluster as a table. */
export async function run(argv: string[], kind: 'workers' | 'models' = 'workers'): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { url: { type: 'string' }, 'token-file': { type: 'string' }, json: { type: 'boolean' } } }));
  } catch (error) {
    process.stderr.write(`rbee ${kind}: ${(error as Error).message}\nusage: rbee ${kind} [--url URL] [--token-file PATH] [--json]\n`);
    return 2;
  }
  const { url, headers } = await queenConnection(values);
  let res: Response;
  try {
    res = await fetch(`${url}/v1/control/snapshot`, { headers });
  } catch (error) {
    process.stderr.write(`rbee ${kind}: cannot reach the queen at ${url}: ${(error as Error).message}\n`);
    return 1;
  }
  if (!res.ok) {
    process.stderr.write(`rbee ${kind}: ${await describeFailure(res)}\n`);
    return 1;
  }
  const snapshot = (await res.json()) as ClusterSnapshot;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(kind === 'workers' ? snapshot.workers : snapshot.models, null, 2)}\n`);
    return 0;
  }
  if (kind === 'models') {
    const rows = [['MODEL', 'HIVE', 'SIZE', 'ARCH', 'QUANT', 'NOTE']];
    for (const m of snapshot.models) {
      rows.push([m.name, m.hive, `${(m.size_bytes / 1024 / 1024).toFixed(1)} MiB`, m.architecture ?? '-', m.quantization ?? '-', m.is_demo ? 'demo (random weights)' : '']);
    }
    process.stdout.write(`${table(rows)}\n`);
    return 0;
  }
  const rows = [['HIVE', 'WORKER', 'MODEL', 'STATE', 'PID', 'SLOTS', 'RESTARTS', 'BREAKER', 'LAST EXIT']];
  for (const w of snapshot.workers) {
    const exit = w.last_exit ? `${w.last_exit.signal ?? `code ${w.last_exit.code}`} (${w.last_exit.reason})` : '-';
    rows.push([w.hive, w.id, w.model, w.state, String(w.pid ?? '-'), `${w.slots.total - w.slots.free}/${w.slots.total}`, String(w.restart_count), w.breaker.state, exit]);
  }
  process.stdout.write(`${table(rows)}\n`);
  return 0;
}
