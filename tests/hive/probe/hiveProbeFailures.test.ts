/**
 * A hive whose probe child is broken (a real process that exits 1, or prints junk) keeps serving:
 * its device view falls back to the CPU with the reason in the hive's message, a worker start is
 * refused with 503 MODEL_UNAVAILABLE naming the probe failure (no guessed estimate), and
 * `POST /v1/devices/probe` after the repair brings the real answer back; the worker then starts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceInfo, HiveInfo } from '../../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import { HiveRoutes } from '../../../src-shared/hive/hiveApi.js';
import { BUILT_CLI } from '../../../src-main/common/rbeeCommand.js';
import { EventStream, startTestHive, tinySpawn, type TestHive } from '../hiveHarness.js';

type ErrorBody = { error: { code: string; message: string; details?: { probe_error?: string } } };

const BROKEN: Record<string, string[]> = {
  crash: ['-e', 'process.stderr.write("probe exploded\\n"); process.exit(1)'],
  garbage: ['-e', 'process.stdin.once("data", () => console.log("<html>not an answer</html>")); setInterval(() => {}, 1000)'],
};

describe('a hive with a broken probe child', () => {
  let t: TestHive | undefined;
  let events: EventStream | undefined;
  afterEach(async () => {
    events?.close();
    await t?.close();
    t = undefined;
  });

  for (const [kind, expected] of [
    ['crash', 'crashed'],
    ['garbage', 'garbage'],
  ] as const) {
    it(`${kind}: CPU-only view with the reason, worker start refused with 503, repaired by an explicit re-probe`, async () => {
      let broken = true;
      t = await startTestHive({
        standbyWorkers: 0,
        devicePeriodMs: 0,
        probe: {
          retryMs: 3_600_000,
          launch: () => ({ command: process.execPath, args: broken ? BROKEN[kind]! : [BUILT_CLI, 'probe', '--gpu', 'off'] }),
        },
      });
      const devices = await t.api<{ devices: DeviceInfo[] }>('GET', HiveRoutes.devices);
      expect(devices.status).toBe(200);
      expect(devices.body.devices.map((d) => d.id)).toEqual(['cpu']);
      const info = await t.api<HiveInfo>('GET', HiveRoutes.hive);
      expect(info.body.message).toMatch(new RegExp(`Device probe failed \\(${expected}\\), showing the CPU only`));

      const refused = await t.api<ErrorBody>('POST', HiveRoutes.workers, tinySpawn({ id: 'w' }));
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('MODEL_UNAVAILABLE');
      expect(refused.body.error.message).toMatch(/No memory estimate for 'tiny.gguf': probe child/);
      expect(refused.body.error.details?.probe_error).toBe(expected);
      // The hive is still up and answering.
      expect((await t.api('GET', HiveRoutes.health)).status).toBe(200);

      broken = false;
      events = new EventStream(t.hive.url);
      await events.opened;
      const reprobed = await t.api<{ devices: DeviceInfo[] }>('POST', HiveRoutes.devicesProbe);
      expect(reprobed.status).toBe(200);
      expect(reprobed.body.devices.map((d) => d.id)).toEqual(['cpu']);
      // Subscribers hear that the message is gone.
      await events.waitFor((e) => e.type === 'hive_updated' && e.hive.message === null, 60_000);

      const started = await t.api<WorkerInfo>('POST', HiveRoutes.workers, tinySpawn({ id: 'w' }));
      expect(started.status).toBe(201);
      await events.waitForWorker('w', (w) => w.state === 'idle', 120_000);
    }, 180_000);
  }
});
