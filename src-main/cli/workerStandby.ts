/**
 * A pre-started `rbee worker` process (a "zygote"): it pays for process start-up, the TypeScript
 * loader and the worker's module graph (fastify, node-llama-cpp's JS) ahead of time, then waits for
 * its arguments over IPC. The hive keeps one ready so that a worker restart skips all of that.
 *
 * Protocol, IPC only (tokens never travel in argv):
 *   child → parent  {event: 'standby_ready', pid}
 *   parent → child  {type: 'run', argv: string[], env: Record<string, string>}
 * Before a `run` arrives, a closed IPC channel (the parent is gone) ends the process with code 0.
 */
export {};

type CommandModule = { run(argv: string[]): Promise<number> };

interface RunMessage {
  type: 'run';
  argv: string[];
  env: Record<string, string>;
}

function isRunMessage(value: unknown): value is RunMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<RunMessage>;
  return m.type === 'run' && Array.isArray(m.argv) && m.argv.every((a) => typeof a === 'string') && typeof m.env === 'object' && m.env !== null;
}

if (typeof process.send !== 'function') {
  process.stderr.write('rbee worker standby: must be started with an IPC channel\n');
  process.exit(2);
}

const onDisconnect = (): void => process.exit(0);
process.once('disconnect', onDisconnect);

/**
 * Optional hook of the worker runtime: create node-llama-cpp's `Llama` for a device/thread pair ahead
 * of time (getLlama test-loads the binary in a subprocess on every call — most of a warm restart).
 * Used when the worker's ModelRuntime exports it; the hive names the pair in RBEE_STANDBY_PREWARM.
 */
type PrewarmHook = (options: { device: 'auto' | 'cpu'; threads: number }) => void;

async function prewarm(): Promise<void> {
  const hint = /^(auto|cpu):(\d{1,3})$/.exec(process.env.RBEE_STANDBY_PREWARM ?? '');
  if (!hint) return;
  const runtime = (await import('../worker/ModelRuntime.js')) as unknown as { prewarmLlama?: PrewarmHook };
  if (typeof runtime.prewarmLlama === 'function') runtime.prewarmLlama({ device: hint[1] as 'auto' | 'cpu', threads: Number(hint[2]) });
}

// The listener is attached before anything slow, so a `run` sent early is never lost.
const preload: Promise<CommandModule> = (async () => {
  const [command] = await Promise.all([import('./commands/workerCommand.js'), import('node-llama-cpp')]);
  await prewarm().catch(() => undefined);
  return command;
})();

process.once('message', (message: unknown) => {
  process.off('disconnect', onDisconnect);
  if (!isRunMessage(message)) {
    process.stderr.write('rbee worker standby: unexpected first message\n');
    process.exit(2);
  }
  for (const [key, value] of Object.entries(message.env)) if (typeof value === 'string') process.env[key] = value;
  preload
    .then((command) => command.run(message.argv))
    .then(
      (code) => {
        process.exitCode = code;
      },
      (error: unknown) => {
        process.stderr.write(`rbee: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      },
    );
});

preload.then(
  () => process.send?.({ event: 'standby_ready', pid: process.pid }, undefined, undefined, () => undefined),
  (error: unknown) => {
    process.stderr.write(`rbee worker standby: preload failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
