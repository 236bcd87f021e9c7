// A stand-in supervisor: forks one worker with an IPC channel, prints its pid, then idles.
// Used to prove that a worker dies with its parent. Run with tsx (a test script; the worker it forks
// runs the built bundle).
import { fork } from 'node:child_process';
import { rbeeCommand } from '../../src-main/common/rbeeCommand.js';

const [modelPath] = process.argv.slice(2);
const launch = rbeeCommand('worker', ['--model', modelPath!, '--threads', '1', '--ctx', '256', '--device', 'cpu']);
// A worker never runs without its token: a real hive hands one to each worker, so does this stand-in.
const child = fork(launch.modulePath, launch.forkArgs, {
  execArgv: launch.execArgv,
  env: { ...process.env, ...launch.env, RBEE_WORKER_TOKEN: 'forking-parent-worker-token-0123' },
  stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
});
child.on('message', (message: { event?: string }) => {
  if (message.event === 'ready') process.stdout.write(`${JSON.stringify({ event: 'child_ready', pid: child.pid })}\n`);
});
setInterval(() => undefined, 1 << 30);
