import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { rbeeCommand } from '../../src-main/common/rbeeCommand.js';

export interface RbeeProcess {
  child: ChildProcess;
  pid: number;
  /** Everything the process wrote, stdout and stderr interleaved as received. */
  output(): string;
  /** Resolves with the first stdout JSON line matching `predicate` (rejects if the process exits first). */
  waitForLine<T = Record<string, unknown>>(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  /** Resolves once the accumulated output satisfies `predicate` (checked on every chunk that arrives). */
  waitForOutput(predicate: (output: string) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM by pid, then SIGKILL after `graceMs`; resolves when gone. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `rbee <subcommand> ...args` as a real child process (stopped by the test, by its pid).
 * `prefix` runs it through a command that execs it in place, e.g. `ip netns exec NAME` (the pid stays
 * the rbee process's own).
 */
export function startRbee(subcommand: string, args: string[], env: Record<string, string> = {}, options: { prefix?: string[] } = {}): RbeeProcess {
  const { command, args: baseArgs } = rbeeCommand(subcommand, args);
  const [first, ...rest] = [...(options.prefix ?? []), command, ...baseArgs];
  return startProcess(first!, rest, env);
}

/** Starts any command in `cwd` (default: here) as a real child process, with the same handle as `startRbee`. */
export function startProcessIn(cwd: string, command: string, args: string[], env: Record<string, string> = {}): RbeeProcess {
  return startProcess(command, args, env, cwd);
}

function startProcess(command: string, args: string[], env: Record<string, string>, cwd?: string): RbeeProcess {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
  let output = '';
  // Raw stdout as it arrives (partial lines too), for output-based waits.
  let rawStdout = '';
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<(line: Record<string, unknown>) => void>();
  const outputWaiters = new Set<() => void>();
  const notifyOutput = (): void => {
    for (const w of outputWaiters) w();
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    notifyOutput();
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    rawStdout += chunk.toString();
    notifyOutput();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    output += `${line}\n`;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      lines.push(parsed);
      for (const w of waiters) w(parsed);
    } catch {
      // not a lifecycle line
    }
  });
  // 'exit' can come before the last of the child's output has been read (its pipes may still hold
  // some), and a test that checks the output once the process exited would then race it. Exited here
  // means gone and drained ('close'), or gone for 2 s (a grandchild that kept the pipes open).
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      const settle = (): void => resolve({ code, signal });
      const grace = setTimeout(settle, 2_000);
      child.once('close', () => {
        clearTimeout(grace);
        settle();
      });
    }),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  return {
    child,
    pid: child.pid!,
    output: () => output,
    exited,
    waitForOutput(predicate: (output: string) => boolean, timeoutMs = 30_000): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!predicate(rawStdout + output)) return;
          clearTimeout(timer);
          outputWaiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          outputWaiters.delete(check);
          reject(new Error(`timed out waiting for output; got:\n${rawStdout}${output}`));
        }, timeoutMs);
        outputWaiters.add(check);
        check();
      });
    },
    waitForLine<T>(predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<T> {
      const seen = lines.find(predicate);
      if (seen) return Promise.resolve(seen as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out waiting for a line; output:\n${output}`)), timeoutMs);
        const waiter = (line: Record<string, unknown>): void => {
          if (predicate(line)) done(undefined, line);
        };
        let settled = false;
        function done(error?: Error, line?: Record<string, unknown>): void {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          waiters.delete(waiter);
          if (error) reject(error);
          else resolve(line as T);
        }
        waiters.add(waiter);
        // After its output is drained: a line written just before the exit still counts.
        void exited.then(() => done(new Error(`process exited before the expected line; output:\n${output}`)));
      });
    },
    async stop(graceMs = 10_000) {
      if (!hasExited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (!hasExited) child.kill('SIGKILL');
        }, graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
}
