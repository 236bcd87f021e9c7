import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalAuditLog } from '../../src-main/audit/LocalAuditLog.js';
import { verifyAuditDir } from '../../src-main/audit/verifyAuditDir.js';
import { verifyAuditChains } from '../../src-main/audit/verifyAuditChains.js';
import { makeTempDir, readAllRecords } from './helpers.js';
import { seededRandom } from '../../src-shared/util/seededRandom.js';

const ROUNDS = 20;
const CHILD = fileURLToPath(new URL('./fixtures/crashWriter.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir('rbee-audit-crash-')));
afterEach(async () => cleanup());


interface Round {
  acked: string[];
}

const children = new Set<ChildProcess>();
afterEach(() => {
  // Stop whatever a failed run left behind (by PID); a passing run leaves nothing.
  for (const child of children) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL');
  children.clear();
});

/** Spawns a child that loads its code and then waits for `go` (so its start-up overlaps the previous round). */
function prepareChild(round: number): ChildProcess {
  const child = spawn(process.execPath, ['--import', TSX, CHILD, dir, String(round)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  return child;
}

/** Tells the child to go, lets it write for `runMs` after its first ack, SIGKILLs it by PID, waits for its exit. */
function crashRound(child: ChildProcess, runMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const acked: string[] = [];
    let buffered = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | null = null;
    const giveUp = setTimeout(() => process.kill(child.pid as number, 'SIGKILL'), 30_000); // never leave a child behind
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('ack ')) continue;
        acked.push(line.slice(4));
        // The random moment is counted from the first acknowledgement, so every round has something to lose.
        if (!killTimer) killTimer = setTimeout(() => process.kill(child.pid as number, 'SIGKILL'), runMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(giveUp);
      if (killTimer) clearTimeout(killTimer);
      children.delete(child);
      if (signal !== 'SIGKILL' || !killTimer) reject(new Error(`crash child ended without our kill (code ${code}, signal ${signal}): ${stderr}`));
      else resolve({ acked });
    });
    child.stdin?.write('go\n');
  });
}

describe('audit log under SIGKILL (acceptance 2)', () => {
  it(`${ROUNDS} rounds of kill -9 at random moments: verifies after each restart, nothing acknowledged is lost`, async () => {
    const seed = Number(process.env.AUDIT_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = seededRandom(seed);
    const everAcked = new Set<string>();
    let quarantines = 0;
    let lastCount = 0;
    let next: ChildProcess | null = null;
    for (let round = 0; round < ROUNDS; round++) {
      const child = next ?? prepareChild(round);
      next = round + 1 < ROUNDS ? prepareChild(round + 1) : null;
      const { acked } = await crashRound(child, Math.floor(random() * 200));
      expect(acked.length, `round ${round} (seed ${seed}) acknowledged nothing`).toBeGreaterThan(0);
      for (const seq of acked) everAcked.add(seq);

      // Before any repair, verify reports a kill -9 as UNSEALED-TAIL at most (never TRUNCATED or GAP).
      const crashed = await verifyAuditChains([dir]);
      expect(crashed.chains.map((c) => c.verdict), `round ${round} (seed ${seed})`).toEqual(['UNSEALED-TAIL']);
      expect(crashed.ok).toBe(true);

      // Restart: the writer recovers the tail (quarantining a torn line), then the log must verify.
      const log = await LocalAuditLog.open({ dir, serviceId: 'restart' });
      quarantines += log.recovery.quarantined.length;
      await log.close();
      const result = await verifyAuditDir(dir);
      expect(result, `round ${round} (seed ${seed})`).toMatchObject({ ok: true });

      const records = await readAllRecords(dir);
      expect(records.length).toBeGreaterThan(lastCount); // the chain went on, nothing before was cut
      lastCount = records.length;
      const present = new Set(records.map((r) => r.record.event.details?.seq));
      const missing = [...everAcked].filter((s) => !present.has(s));
      expect(missing, `round ${round} (seed ${seed}): acknowledged but missing`).toEqual([]);
    }
    // Informational: how often a kill landed mid-write in this run.
    console.log(`audit crash test: seed ${seed}, ${everAcked.size} acknowledged events, ${quarantines} torn tails repaired`);
  }, 300_000); // generous: the machine is shared and loaded
});
