import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestQueen, type TestQueen } from './queenHarness.js';

let q: TestQueen;
beforeAll(async () => {
  q = await startTestQueen();
}, 120_000);
afterAll(async () => {
  await q?.close();
});

describe('worker logs through the queen', () => {
  it('the tail route returns the worker output (redacted) and `rbee logs --follow` (real CLI child) prints it', async () => {
    const worker = await q.spawn();
    const res = await fetch(`${q.url}/v1/control/hives/local/workers/${worker.id}/logs?tail=50`, { headers: q.auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { lines: { text: string; stream: string }[] };
    expect(body.lines.some((l) => l.text.includes('listening'))).toBe(true);
    expect(JSON.stringify(body)).not.toContain(q.token);

    const tokenFile = join(q.dataDir, 'cli-token');
    writeFileSync(tokenFile, q.token, { mode: 0o600 });
    const cli = spawn(process.execPath, ['bin/rbee.mjs', 'logs', worker.id, '--follow', '--tail', '50', '--url', q.url, '--token-file', tokenFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no log line from rbee logs: ${out}`)), 60_000);
        cli.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('listening')) {
            clearTimeout(timer);
            resolve();
          }
        });
        cli.once('exit', (code) => reject(new Error(`rbee logs exited ${code}: ${out}`)));
      });
      // Still following: the process is alive after printing the tail.
      expect(cli.exitCode).toBeNull();
    } finally {
      if (cli.pid) process.kill(cli.pid, 'SIGTERM');
    }
  }, 180_000);
});
