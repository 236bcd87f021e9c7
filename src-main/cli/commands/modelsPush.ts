import { parseArgs } from 'node:util';
import type { UploadModelStarted } from '../../../src-shared/control/ControlApi.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import { describeFailure, queenConnection } from '../queenClient.js';
import { transferProgress } from '../transferProgress.js';

export const PUSH_USAGE = 'usage: rbee models push HIVE MODEL [--name FILE] [--url URL] [--token-file PATH]   (copy a model of this machine to a remote hive by SFTP)';

export interface PushIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: PushIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/**
 * `rbee models push HIVE MODEL`: copies MODEL (a file of this machine's models folder) to the remote
 * hive HIVE through the queen, printing progress until the hive lists it. The event stream is opened
 * before the upload starts, so no progress event can pass unseen. Exit 0 done, 1 failed, 2 usage.
 */
export async function runPush(argv: string[], io: PushIo = processIo): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { name: { type: 'string' }, url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' } },
    }));
    if (positionals.length !== 2) throw new Error('name a hive and a model');
  } catch (error) {
    io.err(`rbee models push: ${(error as Error).message}\n${PUSH_USAGE}\n`);
    return 2;
  }
  const [hive, model] = positionals as [string, string];
  const { url, headers } = await queenConnection(values);
  const controller = new AbortController();
  try {
    const events = await fetch(`${url}${ControlRoutes.events}`, { headers, signal: controller.signal });
    if (!events.ok) throw new Error(await describeFailure(events));
    const res = await fetch(`${url}${ControlRoutes.modelUpload}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ hive_id: hive, model, ...(values.name ? { name: values.name } : {}) }),
    });
    if (!res.ok) throw new Error(await describeFailure(res));
    const started = (await res.json()) as UploadModelStarted;
    io.err(`uploading ${model} to ${hive} (${mib(started.bytes_total)})\n`);
    let lastPercent = -1;
    for await (const progress of transferProgress(events, started.upload_id)) {
      const { state, received_bytes: sent, message: reason } = progress;
      if (state === 'failed') throw new Error(`upload failed: ${reason ?? 'unknown reason'}`);
      if (state === 'done') {
        io.out(`uploaded ${model} to ${hive} (${mib(started.bytes_total)})\n`);
        return 0;
      }
      const percent = started.bytes_total > 0 ? Math.floor((sent / started.bytes_total) * 100) : 0;
      if (percent !== lastPercent) io.err(`  ${percent}%  ${mib(sent)}\n`);
      lastPercent = percent;
    }
    throw new Error('the queen closed the event stream before the upload ended');
  } catch (error) {
    io.err(`rbee models push: ${(error as Error).message}\n`);
    return 1;
  } finally {
    controller.abort();
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
