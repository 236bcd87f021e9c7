import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { rbeeCommand } from '../../src-main/common/rbeeCommand.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { startRbee, type RbeeProcess } from '../helpers/childProcess.js';
import { api, childPidsOf, EventStream, HIVE_TOKEN, isAlive, makeModelsDir, tinySpawn, waitForPidGone } from './hiveHarness.js';

/** `rbee hive` as a real daemon process with two ready workers. */
async function hiveWithWorkers(n: number): Promise<{ hive: RbeeProcess; url: string; pids: number[]; events: EventStream; cleanup(): Promise<void> }> {
  const models = await makeModelsDir();
  const hive = startRbee('hive', ['--models-dir', models.dir, '--port', '0', '--gpu', 'off', '--threads', '1', '--policy', '{"health_period_ms":1000}'], {
    RBEE_HIVE_TOKEN: HIVE_TOKEN,
    RBEE_LOG_LEVEL: 'warn',
  });
  const line = await hive.waitForLine<{ url: string; port: number }>((l) => l.event === 'listening');
  const events = new EventStream(line.url);
  await events.opened;
  const pids: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await api<WorkerInfo>(line.url, 'POST', '/v1/workers', tinySpawn({ id: `w${i}` }));
    expect(res.status).toBe(201);
  }
  for (let i = 0; i < n; i++) pids.push((await events.waitForWorker(`w${i}`, (w) => w.state === 'idle', 60_000)).pid!);
  return {
    hive,
    url: line.url,
    pids,
    events,
    cleanup: async () => {
      events.close();
      if (!isAlive(hive.pid)) await hive.exited;
      else await hive.stop(5_000);
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await models.cleanup();
    },
  };
}

describe('rbee hive: shutdown and orphans (acceptance 5)', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('SIGTERM: polite shutdown of all workers in parallel, progress events, all gone within 30 s, exit 0', async () => {
    const h = await hiveWithWorkers(2);
    cleanup = h.cleanup;
    const children = childPidsOf(h.hive.pid);
    expect(children.length).toBeGreaterThanOrEqual(2);
    process.kill(h.hive.pid, 'SIGTERM');
    const exit = await h.hive.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of h.pids) expect(isAlive(pid)).toBe(false);
    for (const pid of children) expect(await waitForPidGone(pid, 30_000)).toBe(true);
    const phases = h.events.events.flatMap((e) => (e.type === 'shutdown_progress' ? [e.progress.phase] : []));
    expect(phases[0]).toBe('polite');
    expect(phases[phases.length - 1]).toBe('done');
    // The polite request was enough: no SIGKILL phase for healthy workers. The hive times its own
    // cascade (SIGKILL at ⅚ of its 30 s cap), so no SIGKILL phase also proves every worker was gone
    // inside the 30 s cap, by the hive's clock rather than a wall-clock assertion that load could break.
    expect(phases).not.toContain('sigkill');
    const stopped = h.events.events.flatMap((e) => (e.type === 'worker_updated' && e.worker.state === 'stopped' ? [e.worker.id] : []));
    expect(new Set(stopped)).toEqual(new Set(['w0', 'w1']));
  }, 120_000);

  it('SIGKILL of the hive: its workers notice and exit on their own (no orphans)', async () => {
    const h = await hiveWithWorkers(2);
    cleanup = h.cleanup;
    // Every child of the hive: the two workers and the warm standby (when it has been refilled).
    const children = childPidsOf(h.hive.pid);
    expect(children).toEqual(expect.arrayContaining(h.pids));
    expect(children.length).toBeGreaterThanOrEqual(2);
    process.kill(h.hive.pid, 'SIGKILL');
    await h.hive.exited;
    for (const pid of children) expect(await waitForPidGone(pid, 30_000)).toBe(true);
  }, 120_000);

  it('refuses a non-loopback bind without a long token, and bad options, with exit codes', async () => {
    const models = await makeModelsDir();
    try {
      const open = startRbee('hive', ['--models-dir', models.dir, '--host', '0.0.0.0', '--port', '0', '--gpu', 'off'], { RBEE_HIVE_TOKEN: 'short' });
      expect((await open.exited).code).toBe(1);
      expect(open.output()).toMatch(/at least 16/);
      const bad = startRbee('hive', ['--models-dir', models.dir, '--policy', '{"max_restarts":-1}']);
      expect((await bad.exited).code).toBe(2);
      expect(bad.output()).toMatch(/max_restarts must be at least 0/);
    } finally {
      await models.cleanup();
    }
  }, 60_000);
});

describe('rbee hive --exit-with-parent', () => {
  it('shuts down when its parent is gone before the hive has even started (no orphan that runs forever)', async () => {
    const models = await makeModelsDir();
    const { command, args } = rbeeCommand('hive', ['--models-dir', models.dir, '--port', '0', '--gpu', 'off', '--standby', '0', '--exit-with-parent']);
    const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // The parent names itself (as rbeeCommand's spawners do), starts the hive and exits at once: the
    // hive is re-parented before it has read its own parent.
    const parent = spawn('sh', ['-c', `RBEE_PARENT_PID=$$ ${quoted} >/dev/null 2>&1 & echo $!`], {
      env: { ...process.env, RBEE_HIVE_TOKEN: HIVE_TOKEN, RBEE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let hivePid = 0;
    try {
      hivePid = Number(await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once('line', resolve)));
      expect(hivePid).toBeGreaterThan(0);
      expect(await waitForPidGone(hivePid, 30_000)).toBe(true);
    } finally {
      if (hivePid > 0 && isAlive(hivePid)) process.kill(hivePid, 'SIGKILL');
      await models.cleanup();
    }
  }, 60_000);

  it('shuts down when the process that started it is SIGKILLed', async () => {
    const models = await makeModelsDir();
    const { command, args } = rbeeCommand('hive', ['--models-dir', models.dir, '--port', '0', '--gpu', 'off', '--standby', '0', '--exit-with-parent']);
    const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // A parent shell that starts the hive and waits; killing it re-parents the hive.
    const parent = spawn('sh', ['-c', `${quoted} & wait`], { env: { ...process.env, RBEE_HIVE_TOKEN: HIVE_TOKEN, RBEE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<{ pid: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('hive did not start')), 30_000);
        createInterface({ input: parent.stdout! }).on('line', (l) => {
          if (l.includes('"listening"')) {
            clearTimeout(timer);
            resolve(JSON.parse(l) as { pid: number });
          }
        });
      });
      expect(isAlive(line.pid)).toBe(true);
      process.kill(parent.pid!, 'SIGKILL');
      expect(await waitForPidGone(line.pid, 30_000)).toBe(true);
    } finally {
      if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
      await models.cleanup();
    }
  }, 60_000);
});
