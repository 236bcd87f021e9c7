import { WORKER_TOKEN_ENV } from '../../src-shared/worker/workerMessages.js';
import { startRbee, type RbeeProcess } from './childProcess.js';
import { tinyModelPath } from './tinyModel.js';

export interface TestWorker extends RbeeProcess {
  port: number;
  url: string;
  token: string;
}

/** A real `rbee worker` on the tiny model: 1 thread, small context, CPU (BUILD-FACTS thread trap). */
export async function startWorker(options: { token?: string; slots?: number; args?: string[] } = {}): Promise<TestWorker> {
  const model = await tinyModelPath();
  const token = options.token ?? 'test-worker-token-0123456789';
  const proc = startRbee(
    'worker',
    ['--model', model, '--threads', '1', '--ctx', '512', '--device', 'cpu', '--slots', String(options.slots ?? 2), ...(options.args ?? [])],
    { [WORKER_TOKEN_ENV]: token },
  );
  const ready = await proc.waitForLine<{ port: number }>((l) => l.event === 'ready');
  return Object.assign(proc, { port: ready.port, url: `http://127.0.0.1:${ready.port}`, token });
}
