import { parseArgs } from 'node:util';
import type { ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';
import { SseParser } from '../../../src-shared/util/SseParser.js';
import { intOption } from '../intOption.js';
import { describeFailure, queenConnection } from '../queenClient.js';

const USAGE = 'usage: rbee logs WORKER [--hive H] [--follow] [--tail N] [--url URL] [--token-file PATH]';

interface LogLine {
  at: number;
  stream: string;
  text: string;
}

/** `rbee logs WORKER`: a worker's captured output (redacted by its hive), through the queen; `--follow` streams it. */
export async function run(argv: string[]): Promise<number> {
  let values;
  let positionals;
  let tail: number;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { hive: { type: 'string' }, follow: { type: 'boolean', short: 'f' }, tail: { type: 'string', short: 'n' }, url: { type: 'string' }, 'token-file': { type: 'string' } },
    }));
    if (positionals.length !== 1) throw new Error('name exactly one worker');
    tail = intOption('tail', values.tail, 0, 5_000) ?? 200;
  } catch (error) {
    process.stderr.write(`rbee logs: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const worker = positionals[0]!;
  const { url, headers } = await queenConnection(values);
  try {
    const hive = values.hive ?? (await hiveOf(url, headers, worker));
    const path = `${url}/v1/control/hives/${encodeURIComponent(hive)}/workers/${encodeURIComponent(worker)}/logs?tail=${tail}${values.follow ? '&follow=1' : ''}`;
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    const res = await fetch(path, { headers, signal: controller.signal });
    if (!res.ok) {
      process.stderr.write(`rbee logs: ${await describeFailure(res)}\n`);
      return 1;
    }
    if (!values.follow) {
      for (const line of ((await res.json()) as { lines: LogLine[] }).lines) print(line);
      return 0;
    }
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const message of parser.push(decoder.decode(chunk, { stream: true }))) print(JSON.parse(message.data) as LogLine);
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
    return 0;
  } catch (error) {
    process.stderr.write(`rbee logs: ${(error as Error).message}\n`);
    return 1;
  }
}

function print(line: LogLine): void {
  process.stdout.write(`${new Date(line.at).toISOString()} ${line.stream} ${line.text}\n`);
}

/** The hive of the one worker with this id; a clear error when there is none or several. */
async function hiveOf(url: string, headers: Record<string, string>, worker: string): Promise<string> {
  const res = await fetch(`${url}/v1/control/snapshot`, { headers });
  if (!res.ok) throw new Error(await describeFailure(res));
  const hives = ((await res.json()) as ClusterSnapshot).workers.filter((w) => w.id === worker).map((w) => w.hive);
  if (hives.length === 0) throw new Error(`no worker '${worker}' (see rbee workers)`);
  if (hives.length > 1) throw new Error(`worker '${worker}' exists on hives ${hives.join(', ')}: pick one with --hive`);
  return hives[0]!;
}
