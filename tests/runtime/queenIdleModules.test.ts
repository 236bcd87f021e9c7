/**
 * What an idle queen does not load (runtime issue, goal 4: idle queen + hive ≤ 150 MB RSS). A real
 * `rbee queen` (the built bundle) runs with the module-load recorder, serves, refuses a bad body
 * through a route schema, and stops; then its recorded modules must not include:
 * - the SSH room (SshHiveManager and ssh2, which alone costs ~14 MB): no remote hive is remembered,
 *   so `sshRemoteHives` never imports it;
 * - Fastify's default compilers (ajv, fast-json-stringify's compiler): route schemas are zod's;
 * - prom-client's index extras (@opentelemetry/api, pulled in by its default process metrics).
 * The second case proves the recorder sees the SSH room when it is due: with one remote hive
 * remembered, the same queen imports it at start to re-adopt that hive.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlRoutes } from '../../src-shared/control/controlRoutes.js';
import { startRbee, type RbeeProcess } from '../helpers/childProcess.js';
import { waitFor } from '../helpers/waitFor.js';

const RECORDER = pathToFileURL(resolve(import.meta.dirname, '../helpers/moduleLoadRecorder.mjs')).href;
const TOKEN = 'idle-modules-token-0123456789';
const SSH_ROOM = ['SshHiveManager', '/node_modules/ssh2/'];
const FASTIFY_DEFAULT_COMPILERS = ['/node_modules/ajv/', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'];
const PROM_INDEX_EXTRAS = ['@opentelemetry/api'];
// Loaded by every queen: the recorder's positive control (Fastify's own CommonJS files, read from
// the require cache at exit; zod, resolved through the ESM hook).
const ALWAYS = ['/node_modules/fastify/lib/', '/node_modules/zod/'];

/** The modules `pid` recorded, as URLs. */
function recorded(log: string, pid: number): string[] {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${pid} `))
    .map((line) => line.slice(line.indexOf(' ') + 1));
}

const matching = (urls: string[], names: string[]): string[] => urls.filter((url) => names.some((n) => url.includes(n)));

describe('the idle queen loads only what it uses', () => {
  let queen: RbeeProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    if (queen) await queen.stop(10_000);
    queen = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function start(dataDir: string, log: string): RbeeProcess {
    return startRbee('queen', ['--no-local-hive', '--port', '0', '--data-dir', dataDir, '--audit', 'disabled'], {
      LLORCH_API_TOKEN: TOKEN,
      RBEE_LOG_LEVEL: 'warn',
      NODE_OPTIONS: `--import=${RECORDER}`,
      RBEE_TEST_IMPORT_LOG: log,
      RBEE_TEST_IMPORT_MATCH: [...SSH_ROOM, ...FASTIFY_DEFAULT_COMPILERS, ...PROM_INDEX_EXTRAS, ...ALWAYS].join(','),
    });
  }

  it('without remote hives: no SSH room, no ajv or fast-json-stringify compiler, no @opentelemetry', async () => {
    dir = mkdtempSync(join(tmpdir(), 'rbee-idle-modules-'));
    const log = join(dir, 'imports.log');
    queen = start(join(dir, 'data'), log);
    const { url } = await queen.waitForLine<{ url: string }>((l) => l.event === 'listening', 60_000);
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

    // Route schemas still validate (zod's compiler): a spawn without a model is refused with our 400.
    const refused = await fetch(`${url}${ControlRoutes.workers}`, { method: 'POST', headers: auth, body: JSON.stringify({ hive_id: 'local' }) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
    // And metrics still render (prom-client's classes from their own files).
    const metrics = await fetch(`${url}/metrics`, { headers: auth });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# HELP /m);

    const pid = queen.pid;
    const { code } = await queen.stop(10_000);
    queen = undefined;
    expect(code).toBe(0); // a clean exit: the recorder's exit-time read of the require cache ran
    const urls = recorded(log, pid);
    // The recorder saw this queen load what every queen loads…
    expect(matching(urls, ['/node_modules/fastify/lib/']).length).toBeGreaterThan(0);
    expect(matching(urls, ['/node_modules/zod/']).length).toBeGreaterThan(0);
    // …and none of what an idle queen does not need.
    expect(matching(urls, SSH_ROOM)).toEqual([]);
    expect(matching(urls, FASTIFY_DEFAULT_COMPILERS)).toEqual([]);
    expect(matching(urls, PROM_INDEX_EXTRAS)).toEqual([]);
  }, 120_000);

  it('with a remembered remote hive: the SSH room is imported at start to re-adopt it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'rbee-idle-modules-'));
    const log = join(dir, 'imports.log');
    const dataDir = join(dir, 'data');
    mkdirSync(join(dataDir, 'ssh'), { recursive: true, mode: 0o700 });
    // A hive on a port nothing listens on: re-adopting it fails (it shows as unreachable), but only
    // after the SSH room has been loaded to try.
    const record = { id: 'gone', host: '127.0.0.1', port: 1, user: 'nobody', key_file: null, token: 'hive-token-0123456789abcdef', data_dir: null, added_at: new Date().toISOString() };
    writeFileSync(join(dataDir, 'ssh', 'remote-hives.json'), `${JSON.stringify([record])}\n`, { mode: 0o600 });
    queen = start(dataDir, log);
    await queen.waitForLine((l) => l.event === 'listening', 60_000);
    const pid = queen.pid;
    // The ESM hook writes as the import resolves: no need to stop the queen first.
    const urls = await waitFor(() => recorded(log, pid), (u) => matching(u, ['/node_modules/ssh2/']).length > 0, { what: 'the queen importing ssh2', timeoutMs: 60_000 });
    expect(matching(urls, ['SshHiveManager']).length).toBeGreaterThan(0);
  }, 120_000);
});
