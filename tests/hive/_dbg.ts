import { spawn } from 'node:child_process';
import { rbeeCommand } from '../../src-main/common/rbeeCommand.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
const model = await tinyModelPath();
const { command, args } = rbeeCommand('worker', ['--model', model, '--threads', '1', '--ctx', '256', '--device', 'cpu', '--slots', '1']);
for (const ipc of [true, false]) {
const t0 = Date.now();
const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc' as const] : [])], env: { ...process.env, RBEE_WORKER_TOKEN: 'tok-0123456789abcdef' } });
child.stderr!.on('data', (d) => process.stderr.write(`[${Date.now()-t0}] ${d}`));
const port = await new Promise<number>((resolve) => child.stdout!.on('data', (d: Buffer) => { for (const l of d.toString().split('\n')) { if (!l) continue; const m = JSON.parse(l); console.log(Date.now() - t0, m.event); if (m.event === 'ready') resolve(m.port); } }));
const t1 = Date.now();
await fetch(`http://127.0.0.1:${port}/health`);
const r = await fetch(`http://127.0.0.1:${port}/v1/shutdown`, { method: 'POST', headers: { authorization: 'Bearer tok-0123456789abcdef' } });
console.log('shutdown status', r.status);
await new Promise((res) => child.once('exit', (c, s) => { console.log('ipc', ipc, 'exit', c, s, Date.now() - t1); res(null); }));
}
