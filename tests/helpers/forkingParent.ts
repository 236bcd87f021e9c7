// A stand-in supervisor: forks one worker with an IPC channel, prints its pid, then idles.
// Used to prove that a worker dies with its parent. Run with tsx.
import { fork } from 'node:child_process';
import { rbeeCommand } from '../../src-main/common/rbeeCommand.js';

const [modelPath] = process.argv.slice(2);
const launch = rbeeCommand('worker', ['--model', modelPath!, '--threads', '1', '--ctx', '256', '--device', 'cpu']);
const child = fork(launch.modulePath, launch.forkArgs, { execArgv: launch.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
child.on('message', (message: { event?: string }) => {
  if (message.event === 'ready') process.stdout.write(`${JSON.stringify({ event: 'child_ready', pid: child.pid })}\n`);
});
setInterval(() => undefined, 1 << 30);
