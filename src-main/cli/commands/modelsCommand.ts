import { parseArgs } from 'node:util';
import type { ClusterSnapshot, DownloadProgress } from '../../../src-shared/cluster/ClusterEvent.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import { describeFailure, queenConnection } from '../queenClient.js';
import { table } from '../table.js';
import { transferProgress } from '../transferProgress.js';
import { PUSH_USAGE, runPush } from './modelsPush.js';

const USAGE = `usage: rbee models [list|ls] [--url URL] [--token-file PATH] [--json]
       rbee models pull HIVE SOURCE [--name FILE.gguf] [--no-wait] [--url URL] [--token-file PATH]
       rbee models remove|rm HIVE/MODEL [--url URL] [--token-file PATH]   (refused while a worker or a spec uses it)
       ${PUSH_USAGE.replace('usage: ', '')}

SOURCE for pull (downloaded by the hive; docs/hive.md "Download"):
  hf:USER/REPO:TAG        the repo's .gguf model whose name ends in the quantization TAG, e.g.
                          hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M (case-insensitive; no match
                          lists the repo's tags, several matches name the files)
  hf:USER/REPO            the same with the tag Q4_K_M
  hf:USER/REPO/PATH.gguf  that file of the repo
  https://…/FILE.gguf     a URL
A split GGUF (FILE-00001-of-0000N.gguf, by tag or by naming any shard) downloads all N shards as one
model named by its first shard. HF_TOKEN and HF_ENDPOINT (a mirror) are read by the hive.
pull waits for the download and prints its progress; --no-wait prints the download id and returns.
`;

/**
 * `rbee models` / `models list|ls`: the models every hive has, as a table; `models pull HIVE SOURCE`
 * downloads one; `models push` copies a local one to a remote hive; `models remove|rm HIVE/MODEL` deletes one.
 */
export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'remove' || verb === 'rm') return remove(rest);
  if (verb === 'push') return runPush(rest);
  if (verb === 'pull') return pull(rest);
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

/** `models pull HIVE SOURCE`: asks the queen to have a hive download a model; follows its progress on the event stream. */
async function pull(argv: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { name: { type: 'string' }, 'no-wait': { type: 'boolean' }, url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' } },
    }));
  } catch (error) {
    process.stderr.write(`rbee models: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const [hive, source] = positionals;
  if (positionals.length !== 2 || !hive || !source) {
    process.stderr.write(`rbee models pull: name a hive and a source (e.g. rbee models pull local hf:user/repo:Q4_K_M)\n${USAGE}`);
    return 2;
  }
  const { url, headers } = await queenConnection(values);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    // Subscribed before the download starts, so no progress event can be missed.
    const events = values['no-wait'] ? null : await fetch(`${url}${ControlRoutes.events}`, { headers, signal: controller.signal });
    if (events && !events.ok) {
      process.stderr.write(`rbee models pull: ${await describeFailure(events)}\n`);
      return 1;
    }
    const res = await fetch(`${url}${ControlRoutes.modelDownload}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ hive_id: hive, source, ...(values.name ? { name: values.name } : {}) }),
    });
    if (!res.ok) {
      await events?.body?.cancel();
      process.stderr.write(`rbee models pull: ${await describeFailure(res)}\n`);
      return 1;
    }
    const started = (await res.json()) as { download_id: string; name?: string };
    const target = `${hive}/${started.name ?? '?'}`;
    process.stdout.write(`downloading ${source} → ${target} (download ${started.download_id})\n`);
    if (!events) return 0;
    const final = await followDownload(events, started.download_id, (p) => process.stdout.write(`  ${describeProgress(p)}\n`));
    if (final.state === 'done') {
      process.stdout.write(`done: ${target}, ${describeProgress(final)}\n`);
      return 0;
    }
    process.stderr.write(`rbee models pull: the download failed: ${final.message ?? 'no reason given'}\n`);
    return 1;
  } catch (error) {
    if (controller.signal.aborted) {
      process.stderr.write('rbee models pull: stopped following (the hive keeps downloading)\n');
      return 130;
    }
    process.stderr.write(`rbee models pull: ${(error as Error).message}\n`);
    return 1;
  }
}

/** Follows one download to its end; `onProgress` at most once a second. */
async function followDownload(events: Response, downloadId: string, onProgress: (p: DownloadProgress) => void): Promise<DownloadProgress> {
  let printed = 0;
  try {
    for await (const progress of transferProgress(events, downloadId)) {
      if (progress.state !== 'running') return progress;
      if (Date.now() - printed >= 1_000) {
        printed = Date.now();
        onProgress(progress);
      }
    }
  } finally {
    await events.body?.cancel().catch(() => undefined);
  }
  throw new Error('the queen closed its event stream before the download ended');
}

function describeProgress(p: DownloadProgress): string {
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const bytes = p.total_bytes ? `${mib(p.received_bytes)} of ${mib(p.total_bytes)}` : mib(p.received_bytes);
  return `${bytes}${p.files ? `, ${p.files.done} of ${p.files.total} files` : ''}${p.message && p.state === 'running' ? ` (${p.message})` : ''}`;
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
    rows.push([m.name, m.hive, `${(m.size_bytes / 1024 / 1024).toFixed(1)} MiB`, m.architecture ?? '-', m.quantization ?? '-', [m.parts ? `split: ${m.parts} files` : '', m.is_demo ? 'demo (random weights)' : ''].filter(Boolean).join(', ')]);
  }
  process.stdout.write(`${table(rows)}\n`);
  return 0;
}
