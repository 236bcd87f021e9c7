import { SshError } from './errors.js';
import { shCommand, shQuote, shScript } from './shellQuote.js';
import type { SshConnection } from './SshConnection.js';
import { validateRemotePath } from './SshTarget.js';

export interface StartDetachedOptions {
  /** Program and arguments; every word is quoted. No secrets here: argv is visible in `ps`. */
  argv: string[];
  /** Working directory (absolute). */
  cwd: string;
  /** Environment variables that are secret (tokens): sent over the channel's stdin, read by the remote shell, never on a command line. */
  secretEnv?: Record<string, string>;
  /** Non-secret environment variables. */
  env?: Record<string, string>;
  /** stdout+stderr of the process (appended). */
  logFile: string;
  /** Where the pid is written. */
  pidFile: string;
}

const ENV_NAME_RE = /^[A-Z_][A-Z0-9_]{0,63}$/;

/**
 * Starts a process on the remote that outlives the SSH session: `setsid nohup … </dev/null
 * >>log 2>&1 &` (without the redirections the channel would stay open until the process exits).
 * Secret variables travel as lines on stdin into `read -r` (shell variables, then exported), so
 * they never appear in any argv. Resolves with the remote pid.
 */
export async function startDetached(
  connection: SshConnection,
  options: StartDetachedOptions,
): Promise<number> {
  const secrets = Object.entries(options.secretEnv ?? {});
  const plain = Object.entries(options.env ?? {});
  for (const [name, value] of [...secrets, ...plain]) {
    if (!ENV_NAME_RE.test(name))
      throw new SshError('INVALID_TARGET', `Invalid environment variable name ${JSON.stringify(name)}.`);
    if (/[\n\r\0]/.test(value))
      throw new SshError('INVALID_TARGET', `Environment variable ${name} contains a newline or NUL.`);
  }
  validateRemotePath(options.cwd, 'working directory');
  validateRemotePath(options.logFile, 'log file');
  validateRemotePath(options.pidFile, 'pid file');
  const command = shCommand(options.argv);
  const script = [
    ...secrets.map(([name]) => `IFS= read -r ${name} || exit 97; export ${name}`),
    ...plain.map(([name, value]) => `${name}=${shQuote(value)}; export ${name}`),
    `cd ${shQuote(options.cwd)} || exit 98`,
    `mkdir -p "$(dirname ${shQuote(options.logFile)})" "$(dirname ${shQuote(options.pidFile)})" || exit 98`,
    `if command -v setsid >/dev/null 2>&1; then setsid nohup ${command} >>${shQuote(options.logFile)} 2>&1 </dev/null & else nohup ${command} >>${shQuote(options.logFile)} 2>&1 </dev/null & fi`,
    'pid=$!',
    `echo "$pid" > ${shQuote(options.pidFile)}`,
    'echo "pid=$pid"',
  ].join('\n');
  const result = await connection.exec(shScript(script), {
    stdin: secrets.map(([, v]) => `${v}\n`).join(''),
    timeoutMs: 30_000,
  });
  const pid = Number(/pid=(\d+)/.exec(result.stdout)?.[1]);
  if (result.code !== 0 || !Number.isInteger(pid) || pid <= 1) {
    throw new SshError(
      'HIVE_START_FAILED',
      `Could not start ${options.argv[0]} on the remote (exit ${result.code}): ${result.stderr.trim().slice(-500)}`,
    );
  }
  return pid;
}

/** Whether `pid` runs and its command line contains `marker` (guards against pid reuse). */
export async function isRemoteProcessAlive(
  connection: SshConnection,
  pid: number,
  marker: string,
): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const script = `kill -0 ${pid} 2>/dev/null || exit 1; ps -o args= -p ${pid} | grep -F -e ${shQuote(marker)} >/dev/null`;
  const result = await connection.exec(shScript(script), { timeoutMs: 15_000 });
  return result.code === 0;
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL — for a pid whose command line contains `marker`.
 * Resolves true if the process was running.
 */
export async function stopRemoteProcess(
  connection: SshConnection,
  pid: number,
  marker: string,
  graceMs = 10_000,
): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const tenths = Math.max(1, Math.ceil(graceMs / 100));
  const script = [
    `kill -0 ${pid} 2>/dev/null || exit 3`,
    `ps -o args= -p ${pid} | grep -F -e ${shQuote(marker)} >/dev/null || exit 3`,
    `kill -TERM ${pid}`,
    `i=0; while kill -0 ${pid} 2>/dev/null && [ $i -lt ${tenths} ]; do sleep 0.1; i=$((i+1)); done`,
    `if kill -0 ${pid} 2>/dev/null; then kill -KILL ${pid}; echo killed; fi`,
    'exit 0',
  ].join('\n');
  const result = await connection.exec(shScript(script), { timeoutMs: graceMs + 15_000 });
  if (result.code === 3) return false;
  if (result.code !== 0)
    throw new SshError(
      'REMOTE_COMMAND_FAILED',
      `Stopping remote process ${pid} failed: ${result.stderr.trim()}`,
    );
  return true;
}

/** Last lines of a remote file (e.g. a log), for error messages. */
export async function remoteTail(connection: SshConnection, path: string, lines = 20): Promise<string> {
  const result = await connection.exec(
    shScript(`tail -n ${Math.floor(lines)} ${shQuote(validateRemotePath(path))} 2>/dev/null || true`),
    { timeoutMs: 15_000 },
  );
  return result.stdout;
}
