/**
 * Issue 18, item 7: a model of this machine is copied to a remote hive over SFTP with progress.
 * A real queen adds a real sshd on 127.0.0.1 as a remote hive; `rbee models push` (the CLI, through
 * the queen's HTTP control API) uploads the tiny model from the queen's models folder, follows its
 * `download_progress` events and ends once the remote hive's catalog lists it. Hostile names, paths
 * out of the folder, non-GGUF files and the wrong kind of hive are refused before any byte moves.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import { ControlRoutes } from '../../src-shared/control/controlRoutes.js';
import { runPush } from '../../src-main/cli/commands/modelsPush.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { SshHiveManager } from '../../src-main/remote-hive/SshHiveManager.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { waitFor } from '../helpers/waitFor.js';

const TOKEN = 'model-upload-test-token-0123456789abcdef';

describe('rbee models push: a local model to a remote hive over SFTP (real sshd)', () => {
  let sshd: SshdHandle;
  let dir: string;
  let queen: Queen | undefined;
  let manager: SshHiveManager | undefined;
  let modelsDir: string;
  let remoteData: string;
  let hiveId: string;
  const events: ClusterEvent[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'rbee-upload-'));
    modelsDir = join(dir, 'models');
    remoteData = join(dir, 'remote-data');
    mkdirSync(modelsDir);
    mkdirSync(remoteData);
    copyFileSync(await tinyModelPath(3), join(modelsDir, 'tiny-upload.gguf'));
    queen = await createQueen({
      dataDir: join(dir, 'queen-data'),
      modelsDir,
      port: 0,
      apiToken: TOKEN,
      localHive: false,
      auditMode: 'local',
      logger: createLogger('queen', { level: 'warn' }),
      remoteHives: (host) =>
        (manager = new SshHiveManager(host, {
          dataDir: join(dir, 'queen-data'),
          userKnownHosts: [],
          // TEST SHORTCUT: the "remote" is this machine, so the runtime deps are the checkout's node_modules.
          deps: { kind: 'link', path: join(process.cwd(), 'node_modules') },
          remoteDataDir: remoteData,
          hiveArgs: ['--gpu', 'off', '--threads', '1'],
          resolve: { agentSocket: null },
        })),
    });
    queen.control.subscribe((event) => events.push(event));
    const added = await queen.control.addHive({
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      key_file: sshd.clientKeyPath,
      name: 'upload box',
      trust_fingerprint: sshd.hostFingerprint(),
    });
    expect(added.status).toBe('added');
    hiveId = added.status === 'added' ? added.hive.id : '';
    await waitFor(() => queen!.control.listHives(), (hives) => hives.some((h) => h.id === hiveId && h.state === 'online'), { timeoutMs: 120_000, what: 'remote hive online' });
  }, 240_000);

  afterAll(async () => {
    await manager?.close({ stopRemote: true }).catch(() => undefined);
    await queen?.close().catch(() => undefined);
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const push = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    let out = '';
    let err = '';
    const code = await runPush([...argv, '--url', queen!.url, '--token-file', tokenFile], { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  };

  it('uploads with progress; the remote hive lists the model; a second push of the same file is a no-op', async () => {
    const size = statSync(join(modelsDir, 'tiny-upload.gguf')).size;
    const first = await push(hiveId, 'tiny-upload.gguf');
    expect(first.err).not.toContain('rbee models push:');
    expect(first.code).toBe(0);
    expect(first.out).toContain(`uploaded tiny-upload.gguf to ${hiveId}`);
    expect(first.err).toMatch(/uploading tiny-upload\.gguf/);

    // The bytes on the "remote" are the bytes here, under the name asked for, with no part file left.
    const remoteFile = join(remoteData, 'models', 'tiny-upload.gguf');
    expect(readFileSync(remoteFile).equals(readFileSync(join(modelsDir, 'tiny-upload.gguf')))).toBe(true);

    // The progress the dashboard sees: running … done, for this upload, ending at the full size.
    const progress = events.flatMap((e) => (e.type === 'download_progress' && e.progress.source === 'upload:tiny-upload.gguf' ? [e.progress] : []));
    expect(progress[0]).toMatchObject({ hive_id: hiveId, state: 'running', received_bytes: 0, total_bytes: size });
    expect(progress.at(-1)).toMatchObject({ state: 'done', received_bytes: size });

    // The remote hive's catalog has it (the queen's cluster view, from the hive's own rescan).
    const models = await queen!.control.listModels();
    expect(models.some((m) => m.hive === hiveId && m.name === 'tiny-upload.gguf')).toBe(true);

    const again = await push(hiveId, 'tiny-upload.gguf', '--name', 'tiny-upload.gguf');
    expect(again.code).toBe(0);

    const audit = await queen!.control.queryAudit({ event_types: ['model_uploaded'] });
    expect(audit.records.length).toBeGreaterThanOrEqual(2);
    expect(audit.records[0]!.event).toMatchObject({ hive_id: hiveId, details: { name: 'tiny-upload.gguf', bytes: size } });
    expect(JSON.stringify(audit.records)).not.toContain(TOKEN);
  }, 180_000);

  it('refuses hostile or wrong requests with a clear 4xx and moves no byte', async () => {
    writeFileSync(join(modelsDir, 'notes.gguf'), 'this is not a model');
    symlinkSync('/etc/passwd', join(modelsDir, 'passwd.gguf'));
    const post = (body: unknown): Promise<Response> =>
      fetch(`${queen!.url}${ControlRoutes.modelUpload}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const cases: Array<[unknown, number, RegExp]> = [
      [{ hive_id: hiveId, model: '../queen-data/api-token' }, 400, /model: a plain file name/],
      [{ hive_id: hiveId, model: '/etc/passwd' }, 400, /model: a plain file name/],
      [{ hive_id: hiveId, model: 'tiny-upload.gguf', name: '../../escape.gguf' }, 400, /name: a plain file name/],
      [{ hive_id: hiveId, model: 'passwd.gguf' }, 400, /not a file of the models folder/],
      [{ hive_id: hiveId, model: 'notes.gguf' }, 422, /not a loadable GGUF/],
      [{ hive_id: hiveId, model: 'missing.gguf' }, 404, /No model 'missing\.gguf'/],
      [{ hive_id: 'nope', model: 'tiny-upload.gguf' }, 404, /No hive 'nope'/],
      [{ hive_id: hiveId, model: 'tiny-upload.gguf', extra: 1 }, 400, /./],
    ];
    for (const [body, status, message] of cases) {
      const res = await post(body);
      const answer = (await res.json()) as { error: { message: string } };
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(answer.error.message, JSON.stringify(body)).toMatch(message);
    }
    const cli = await push(hiveId, 'notes.gguf');
    expect(cli.code).toBe(1);
    expect(cli.err).toMatch(/not a loadable GGUF/);
    for (const name of ['notes.gguf', 'passwd.gguf', 'escape.gguf', 'api-token']) {
      expect(() => statSync(join(remoteData, 'models', name)), name).toThrow();
    }
  }, 60_000);
});
