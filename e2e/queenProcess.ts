import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface QueenOptions {
  token: string;
  /** Reuse a data dir (restart); else a fresh temp dir. */
  dataDir?: string;
  /** 0 = free port. */
  port?: number;
  /** Extra environment for the queen. */
  env?: Record<string, string>;
  /** How long to wait for the `listening` line. Defaults to 120 s. */
  startTimeoutMs?: number;
  /** Start the local hive with the demo model (default) or no hive at all (`--no-local-hive`). */
  demo?: boolean;
  /** More `rbee queen` arguments. */
  args?: string[];
}

/**
 * A real headless queen: `node bin/rbee.mjs queen --demo`, with local audit on.
 * (`RBEE_E2E_QUEEN_ENTRY` points at another entry script, for debugging the suite itself.)
 */
export class QueenProcess {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    readonly port: number,
    readonly token: string,
    readonly dataDir: string,
    private readonly log: string[],
  ) {}

  static async start(options: QueenOptions): Promise<QueenProcess> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'rbee-e2e-'));
    const log: string[] = [];
    const proc = spawn(
      process.execPath,
      [process.env.RBEE_E2E_QUEEN_ENTRY ?? 'bin/rbee.mjs', 'queen', '--port', String(options.port ?? 0), '--host', '127.0.0.1', '--data-dir', dataDir, ...(options.demo === false ? ['--no-local-hive'] : ['--demo']), ...(options.args ?? [])],
      {
        env: {
          ...process.env,
          LLORCH_API_TOKEN: options.token,
          LLORCH_AUDIT_MODE: 'local',
          LLORCH_AUDIT_DIR: join(dataDir, 'audit'),
          ...options.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      log.push(chunk);
      if (log.length > 400) log.splice(0, log.length - 400);
    });
    const lines = createInterface({ input: proc.stdout! });
    const listening = await new Promise<{ url: string; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`queen did not report listening in time\n${log.join('')}`)), options.startTimeoutMs ?? 120_000);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`queen exited early (${code ?? signal})\n${log.join('')}`));
      });
      lines.on('line', (line) => {
        log.push(`${line}\n`);
        try {
          const msg = JSON.parse(line) as { event?: string; url?: string; port?: number };
          if (msg.event === 'listening' && typeof msg.port === 'number') {
            clearTimeout(timer);
            resolve({ url: msg.url ?? `http://127.0.0.1:${msg.port}`, port: msg.port });
          }
        } catch {
          // not a JSON line: a log line
        }
      });
    });
    return new QueenProcess(proc, listening.url, listening.port, options.token, dataDir, log);
  }

  /** Restart on the same port and data dir (the dashboard must reconnect by itself). */
  async restart(): Promise<QueenProcess> {
    await this.stop();
    return QueenProcess.start({ token: this.token, dataDir: this.dataDir, port: this.port });
  }

  /** SIGTERM (graceful cascade, capped at 30 s by the queen), then SIGKILL; by PID only. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 40_000);
    await exited;
    clearTimeout(timer);
  }

  removeDataDir(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  recentLog(): string {
    return this.log.join('');
  }

  /** A control API call with the token, as the dashboard makes it. */
  async control<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await fetch(this.url + path, {
      ...init,
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
    });
    if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path} → ${response.status} ${await response.text()}`);
    return (response.status === 204 ? undefined : await response.json()) as T;
  }
}

export function tokenFingerprint(token: string): string {
  return `token:${createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 6)}`;
}
