import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { startProcessIn } from '../helpers/childProcess.js';
import { packagedCopy, type PackagedCopy } from '../helpers/packagedCopy.js';
import { commandLineOf, descendantsOf } from '../helpers/processTree.js';
import { startSshd } from '../helpers/sshd.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { waitFor } from '../helpers/waitFor.js';
import { ControlRoutes } from '../../src-shared/control/controlRoutes.js';

/** Pids whose command line names `dir` (a detached remote hive and its workers). */
function pidsRunningFrom(dir: string): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .flatMap((pid) => (commandLineOf(Number(pid)).join(' ').includes(dir) ? [Number(pid)] : []));
}

/**
 * The packaged layout runs on its own: the queen, its local hive and a worker all start from a copy of
 * exactly what electron-builder ships (out/, resources/, package.json, the production node_modules;
 * no src-main, nothing only development needs, tsx included), and a completion is served. Every
 * process runs the copy's built bundle.
 */
const TOKEN = 'packaged-layout-token-0123456789';
let copy: PackagedCopy;
let dataDir: string;

beforeAll(() => {
  copy = packagedCopy(process.cwd());
  dataDir = mkdtempSync(join(tmpdir(), 'rbee-packaged-data-'));
}, 120_000);
afterAll(() => {
  copy?.dispose();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});


describe('the packaged layout (electron-builder files, no sources), run from a copy', () => {
  it('ships no sources and no devDependencies', () => {
    expect(existsSync(join(copy.dir, 'out', 'main', 'cli.js'))).toBe(true);
    expect(existsSync(join(copy.dir, 'src-main'))).toBe(false);
    // Packages only development needs (package-lock `dev`), tsx among them, are not shipped.
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).flatMap(([path, entry]) => (path.startsWith('node_modules/') && entry.dev === true ? [path] : []));
    expect(devOnly).toContain('node_modules/tsx');
    expect(devOnly.filter((path) => existsSync(join(copy.dir, path)))).toEqual([]);
    expect(existsSync(join(copy.dir, 'node_modules', 'node-llama-cpp'))).toBe(true);
  });

  it('runs the queen, its local hive and a worker from the copy; a completion is served', async () => {
    const queen = startProcessIn(copy.dir, process.execPath, [join(copy.dir, 'out', 'main', 'cli.js'), 'queen', '--port', '0', '--data-dir', dataDir, '--demo', '--audit', 'disabled'], {
      LLORCH_API_TOKEN: TOKEN,
      RBEE_LOG_LEVEL: 'warn',
    });
    try {
      const { url } = await queen.waitForLine<{ url: string }>((l) => l.event === 'listening', 120_000);
      const auth = { authorization: `Bearer ${TOKEN}` };
      let snapshot: ClusterSnapshot | undefined;
      const started = Date.now();
      for (;;) {
        snapshot = (await (await fetch(`${url}/v1/control/snapshot`, { headers: auth })).json()) as ClusterSnapshot;
        if (snapshot.workers.some((w) => w.state === 'idle' || w.state === 'busy')) break;
        if (Date.now() - started > 180_000) throw new Error(`no ready worker: ${JSON.stringify(snapshot).slice(0, 2000)}\n${queen.output()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const worker = snapshot.workers.find((w) => w.state === 'idle' || w.state === 'busy')!;
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ model: worker.model, prompt: 'Once upon a time', max_tokens: 4, temperature: 0 }),
      });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      const body = JSON.parse(text) as { object: string; choices: Array<{ text: string; finish_reason: string }>; usage: { prompt_tokens: number; completion_tokens: number } };
      expect(body.object).toBe('text_completion');
      // The model read the prompt (its tokens are counted) and ended the answer itself or at max_tokens;
      // how many tokens the random demo weights produce before an end-of-sequence is theirs to choose.
      expect(body.usage.prompt_tokens).toBeGreaterThan(0);
      expect(['stop', 'length']).toContain(body.choices[0]?.finish_reason);
      expect(body.usage.completion_tokens).toBeLessThanOrEqual(4);

      // The queen's hive and the worker that answered (a warm standby turned worker runs
      // out/main/workerStandby.js): every process runs the copy's bundle, none names tsx or a .ts file.
      const tree = [queen.pid, ...descendantsOf(queen.pid)];
      const lines = tree.map((pid) => ({ pid, argv: commandLineOf(pid) })).filter((p) => p.argv.length > 0);
      expect(lines.length, JSON.stringify(lines)).toBeGreaterThanOrEqual(3); // queen, hive, worker
      for (const { argv } of lines) {
        expect(argv.join(' '), 'runs the copy').toContain(join(copy.dir, 'out', 'main') + '/');
        expect(argv.join(' ')).not.toMatch(/tsx|\.ts(\s|$)/);
      }
      expect(lines.some((p) => p.argv.includes('hive'))).toBe(true);
      expect(lines.map((p) => p.pid)).toContain(worker.pid);
    } finally {
      await queen.stop();
    }
  }, 300_000);

  it('deploys an SSH remote hive from the copy (real sshd): the bundle and the runtime closure come from the copy, a model is pushed, a worker there answers', async () => {
    const sshd = await startSshd();
    const sshDataDir = mkdtempSync(join(tmpdir(), 'rbee-packaged-ssh-queen-'));
    const remoteData = mkdtempSync(join(tmpdir(), 'rbee-packaged-ssh-remote-'));
    mkdirSync(join(sshDataDir, 'models'));
    copyFileSync(await tinyModelPath(5), join(sshDataDir, 'models', 'packaged-tiny.gguf'));
    const queen = startProcessIn(copy.dir, process.execPath, [join(copy.dir, 'out', 'main', 'cli.js'), 'queen', '--port', '0', '--data-dir', sshDataDir, '--no-local-hive', '--audit', 'disabled', '--remote-deps', 'upload', '--remote-data-dir', remoteData], {
      LLORCH_API_TOKEN: TOKEN,
      RBEE_LOG_LEVEL: 'warn',
    });
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    let url = '';
    let hiveId = '';
    try {
      ({ url } = await queen.waitForLine<{ url: string }>((l) => l.event === 'listening', 120_000));
      const post = async (path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
        const res = await fetch(`${url}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      const added = await post(ControlRoutes.hives, { host: sshd.host, port: sshd.port, user: sshd.user, key_file: sshd.clientKeyPath, name: 'packaged-remote', trust_fingerprint: sshd.hostFingerprint() });
      expect(added.status, JSON.stringify(added.json)).toBe(201);
      hiveId = (added.json.hive as { id: string }).id;
      const snapshot = (): Promise<ClusterSnapshot> => fetch(`${url}${ControlRoutes.snapshot}`, { headers: auth }).then((r) => r.json() as Promise<ClusterSnapshot>);
      await waitFor(snapshot, (s) => s.hives.some((h) => h.id === hiveId && h.state === 'online'), { timeoutMs: 180_000, what: 'remote hive online' });

      // What the remote runs came from the copy: the bundle's files and node_modules unpacked from the copy's closure.
      const versionDir = join(remoteData, 'hive', (JSON.parse(readFileSync(join(copy.dir, 'package.json'), 'utf8')) as { version: string }).version);
      expect(readFileSync(join(versionDir, 'out', 'main', 'cli.js')).equals(readFileSync(join(copy.dir, 'out', 'main', 'cli.js')))).toBe(true);
      expect(existsSync(join(versionDir, 'node_modules', 'node-llama-cpp', 'package.json'))).toBe(true);
      expect(existsSync(join(versionDir, 'node_modules', 'tsx'))).toBe(false);

      const pushed = await post(ControlRoutes.modelUpload, { hive_id: hiveId, model: 'packaged-tiny.gguf' });
      expect(pushed.status, JSON.stringify(pushed.json)).toBe(202);
      await waitFor(snapshot, (s) => s.models.some((m) => m.hive === hiveId && m.name === 'packaged-tiny.gguf'), { timeoutMs: 120_000, what: 'model listed on the remote hive' });
      const spec = await post(ControlRoutes.workers, { hive_id: hiveId, id: 'packaged-w', model: 'packaged-tiny.gguf', threads: 1 });
      expect(spec.status, JSON.stringify(spec.json)).toBe(201);
      await waitFor(snapshot, (s) => s.workers.some((w) => w.hive === hiveId && w.id === 'packaged-w' && (w.state === 'idle' || w.state === 'busy')), { timeoutMs: 180_000, what: 'remote worker ready' });
      const answer = await post('/v1/completions', { model: 'packaged-tiny.gguf', prompt: 'Once upon a time', max_tokens: 2, temperature: 0 });
      expect(answer.status, JSON.stringify(answer.json)).toBe(200);
      expect(['stop', 'length']).toContain((answer.json.choices as Array<{ finish_reason: string }>)[0]?.finish_reason);
    } finally {
      if (url && hiveId) await fetch(`${url}${ControlRoutes.hive(hiveId)}?stop=true`, { method: 'DELETE', headers: { authorization: auth.authorization } }).catch(() => undefined);
      await queen.stop();
      await sshd.stop();
      // A hive started detached (setsid) outlives its session: end whatever still runs from this test's remote folder.
      for (const pid of pidsRunningFrom(remoteData)) process.kill(pid, 'SIGKILL');
      rmSync(sshDataDir, { recursive: true, force: true });
      rmSync(remoteData, { recursive: true, force: true });
    }
  }, 600_000);
});
