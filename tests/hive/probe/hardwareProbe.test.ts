/**
 * The hive's HardwareProbe against real probe children: the real `rbee probe` (the built bundle,
 * node-llama-cpp on the CPU) and deliberately broken children (plain `node -e` programs that exit 1,
 * print junk, or never answer). What it proves: answers are cached per model file and sizing; the
 * child is short-lived; every failure becomes a typed ProbeError and a CPU-only device view, never an
 * exception that escapes (a crash of this test process would be the hive crashing).
 */
import { copyFile, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILT_CLI } from '../../../src-main/common/rbeeCommand.js';
import { HardwareProbe, type HardwareProbeOptions } from '../../../src-main/hive/HardwareProbe.js';
import { ProbeError } from '../../../src-main/hive/probe/ProbeError.js';
import { commandLineOf } from '../../helpers/processTree.js';
import { tinyModelPath } from '../../helpers/tinyModel.js';
import { waitForPidGone } from '../hiveHarness.js';

/** A probe child that is a plain Node program (a real process, broken on purpose). */
const nodeProgram = (source: string): HardwareProbeOptions['launch'] => () => ({ command: process.execPath, args: ['-e', source] });

const probes: HardwareProbe[] = [];
const dirs: string[] = [];
function makeProbe(options: HardwareProbeOptions = {}): HardwareProbe {
  const probe = new HardwareProbe({ gpu: false, ...options });
  probes.push(probe);
  return probe;
}

afterEach(async () => {
  await Promise.all(probes.splice(0).map((p) => p.dispose()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function errorOf(promise: Promise<unknown>): Promise<ProbeError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProbeError);
  return error as ProbeError;
}

describe('HardwareProbe with the real probe child', () => {
  it('measures the devices and a model in a child that runs the built bundle and exits when idle', async () => {
    const probe = makeProbe({ lingerMs: 200 });
    const devices = await probe.devices();
    expect(devices.map((d) => d.id)).toEqual(['cpu']);
    expect(devices[0]!.memory_total).toBeGreaterThan(0);
    expect(await probe.backend()).toBe(false);
    const pid = probe.childPid;
    // Still lingering, or already gone; when we caught it, it is the built bundle, never tsx or a .ts file.
    if (pid !== undefined) {
      const argv = commandLineOf(pid);
      if (argv.length > 0) {
        expect(argv).toContain(BUILT_CLI);
        expect(argv.join(' ')).not.toMatch(/tsx|\.ts\b/);
      }
      expect(await waitForPidGone(pid, 30_000)).toBe(true);
    }
    const table = await probe.offloadTable({ modelPath: await tinyModelPath(), ctx: 256, slots: 1 });
    expect(table.totalLayers).toBeGreaterThan(0);
    expect(table.byLayers).toHaveLength(table.totalLayers + 1);
    expect(table.byLayers[0]!.ram).toBeGreaterThan(0);
    expect(table.byLayers[0]!.vram).toBe(0);
    expect(probe.lastError).toBeNull();
  }, 120_000);

  it('caches an estimate per model file and sizing: the same model asks no child, a changed file or sizing does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbee-probe-'));
    dirs.push(dir);
    const model = join(dir, 'tiny.gguf');
    await copyFile(await tinyModelPath(), model);
    const probe = makeProbe();
    const first = await probe.offloadTable({ modelPath: model, ctx: 256, slots: 1 });
    expect(probe.requestsSent).toBe(1);
    expect(await probe.offloadTable({ modelPath: model, ctx: 256, slots: 1 })).toEqual(first);
    expect(probe.requestsSent).toBe(1);
    const moreSlots = await probe.offloadTable({ modelPath: model, ctx: 256, slots: 2 });
    expect(probe.requestsSent).toBe(2);
    expect(moreSlots.byLayers[0]!.ram).toBeGreaterThan(first.byLayers[0]!.ram);
    await utimes(model, new Date(), new Date(Date.now() + 5_000));
    expect(await probe.offloadTable({ modelPath: model, ctx: 256, slots: 1 })).toEqual(first);
    expect(probe.requestsSent).toBe(3);
    // The explicit refresh forgets everything: a device probe, then the estimate is asked again.
    await probe.reprobe();
    expect(probe.requestsSent).toBe(4);
    await probe.offloadTable({ modelPath: model, ctx: 256, slots: 1 });
    expect(probe.requestsSent).toBe(5);
    // Concurrent questions for the same model share one request.
    await probe.reprobe();
    await Promise.all([1, 2, 3].map(() => probe.offloadTable({ modelPath: model, ctx: 128, slots: 1 })));
    expect(probe.requestsSent).toBe(7);
  }, 180_000);

  it('a model the child cannot read is a `failed` ProbeError naming the reason (the child stays healthy)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbee-probe-'));
    dirs.push(dir);
    const bogus = join(dir, 'not-a-model.gguf');
    await copyFile(BUILT_CLI, bogus);
    const probe = makeProbe();
    const error = await errorOf(probe.offloadTable({ modelPath: bogus, ctx: 256, slots: 1 }));
    expect(error.code).toBe('failed');
    expect(error.message).toMatch(/GGUF/);
  }, 120_000);
});

describe('HardwareProbe with broken probe children', () => {
  it('a child that exits 1: `crashed` with its stderr, the devices fall back to the CPU, estimates are refused', async () => {
    const probe = makeProbe({ launch: nodeProgram('process.stderr.write("cannot load the binding\\n"); process.exit(1)') });
    const devices = await probe.devices();
    expect(devices.map((d) => d.id)).toEqual(['cpu']);
    expect(probe.lastError?.code).toBe('crashed');
    expect(probe.lastError?.message).toMatch(/code 1/);
    expect(probe.lastError?.message).toMatch(/cannot load the binding/);
    expect(await probe.backend()).toBe(false);
    const error = await errorOf(probe.offloadTable({ modelPath: await tinyModelPath(), ctx: 256, slots: 1 }));
    expect(error.code).toBe('crashed');
  }, 60_000);

  it('a child that prints junk on stdout: `garbage`, and the child is killed', async () => {
    const probe = makeProbe({ launch: nodeProgram('process.stdin.once("data", () => console.log("hello, I am not JSON")); setInterval(() => {}, 1000)') });
    const pending = probe.devices();
    const pid = probe.childPid;
    expect(pid).toBeDefined();
    expect((await pending).map((d) => d.id)).toEqual(['cpu']);
    expect(probe.lastError?.code).toBe('garbage');
    expect(probe.lastError?.message).toMatch(/hello, I am not JSON/);
    expect(await waitForPidGone(pid!, 30_000)).toBe(true);
  }, 60_000);

  it('a child that answers valid JSON of the wrong shape is `garbage` too', async () => {
    const probe = makeProbe({ launch: nodeProgram('process.stdin.once("data", () => console.log(JSON.stringify({ id: 1, kind: "devices", backend: "tpu" }))); setInterval(() => {}, 1000)') });
    await probe.devices();
    expect(probe.lastError?.code).toBe('garbage');
  }, 60_000);

  it('a child that never answers: `timeout`, and the child is killed', async () => {
    const probe = makeProbe({ timeoutMs: 1_000, launch: nodeProgram('process.stdin.resume(); setInterval(() => {}, 1000)') });
    const pending = probe.devices();
    const pid = probe.childPid;
    expect((await pending).map((d) => d.id)).toEqual(['cpu']);
    expect(probe.lastError?.code).toBe('timeout');
    expect(await waitForPidGone(pid!, 30_000)).toBe(true);
  }, 60_000);

  it('a child that cannot start: `spawn_failed`', async () => {
    const probe = makeProbe({ launch: () => ({ command: join(tmpdir(), 'rbee-no-such-binary'), args: [] }) });
    expect((await probe.devices()).map((d) => d.id)).toEqual(['cpu']);
    expect(probe.lastError?.code).toBe('spawn_failed');
  }, 60_000);

  it('after a failure the next read within retryMs keeps the fallback; reprobe() tries again at once', async () => {
    let broken = true;
    const probe = makeProbe({
      retryMs: 3_600_000,
      launch: () => (broken ? { command: process.execPath, args: ['-e', 'process.exit(3)'] } : { command: process.execPath, args: [BUILT_CLI, 'probe', '--gpu', 'off'] }),
    });
    await probe.devices();
    expect(probe.lastError?.code).toBe('crashed');
    broken = false;
    await probe.devices();
    expect(probe.childrenStarted).toBe(1);
    expect(probe.lastError?.code).toBe('crashed');
    await probe.reprobe();
    expect(probe.childrenStarted).toBe(2);
    expect(probe.lastError).toBeNull();
  }, 120_000);
});
