import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRbee } from '../helpers/childProcess.js';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';

/**
 * Deleting a model through the queen, with a real hive child and a real worker: a model nothing uses
 * is deleted (file gone, catalog and queen updated, audited); one a worker uses, or a declared spec
 * names, is refused with 409 naming it; hostile names never reach the filesystem.
 */
let q: TestQueen;
let worker: string;
const SPARE = 'spare.gguf';
const DECLARED = 'declared.gguf';

beforeAll(async () => {
  q = await startTestQueen({ models: [MODEL, SPARE, DECLARED], extra: { auditMode: 'local' } });
  worker = (await q.spawn({ slots: 1 })).id;
}, 180_000);
afterAll(async () => {
  await q?.close();
});

const del = (hive: string, name: string): Promise<Response> =>
  fetch(`${q.url}/v1/control/hives/${encodeURIComponent(hive)}/models/${encodeURIComponent(name)}`, { method: 'DELETE', headers: q.auth });
const code = async (res: Response): Promise<string> => ((await res.json()) as { error: { code: string; message: string } }).error.code;

describe('deleting a model', () => {
  it('refused while a worker uses it (409 naming the worker); the file stays', async () => {
    const res = await del('local', MODEL);
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('CONFLICT');
    expect(body.error.message).toContain(worker);
    expect(existsSync(join(q.dataDir, 'models', MODEL))).toBe(true);
  });

  it('refused while a declared spec names it, even without a running worker', async () => {
    const created = await fetch(`${q.url}/v1/control/workers`, {
      method: 'POST',
      headers: { ...q.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ hive_id: 'local', model: DECLARED, id: 'kept', enabled: false }),
    });
    expect(created.status, await created.clone().text()).toBeLessThan(300);
    const res = await del('local', DECLARED);
    expect(res.status).toBe(409);
    expect(await code(res)).toBe('CONFLICT');
    expect(existsSync(join(q.dataDir, 'models', DECLARED))).toBe(true);
  });

  it('hostile or unknown names: 4xx, and nothing outside the models folder is touched', async () => {
    const canary = join(q.dataDir, 'canary.gguf');
    writeFileSync(canary, 'outside the models folder');
    for (const name of ['../canary.gguf', '..', '.hidden.gguf', 'x/../../canary.gguf', `${q.dataDir}/canary.gguf`, 'notes.txt']) {
      const res = await del('local', name);
      expect(res.status, name).toBeGreaterThanOrEqual(400);
      expect(res.status, name).toBeLessThan(500);
    }
    expect(existsSync(canary)).toBe(true);
    const unknown = await del('local', 'nope.gguf');
    expect(unknown.status).toBe(404);
    expect((await del('no-such-hive', SPARE)).status).toBe(404);
  });

  it('a model nothing uses: deleted (the CLI), gone from the folder and the cluster view, audited', async () => {
    const cli = startRbee('models', ['rm', `local/${SPARE}`], { RBEE_URL: q.url, LLORCH_API_TOKEN: q.token });
    const exit = await cli.exited;
    expect(exit.code, cli.output()).toBe(0);
    expect(cli.output()).toContain(`removed local/${SPARE}`);
    expect(existsSync(join(q.dataDir, 'models', SPARE))).toBe(false);
    await q.waitFor((s) => !s.models.some((m) => m.name === SPARE), 30_000);
    const audit = await q.queen.control.queryAudit({ limit: 50, event_types: ['model_deleted'] });
    expect(audit.records.some((r) => r.event.details?.model === SPARE && r.event.actor?.startsWith('token:'))).toBe(true);
    const usage = startRbee('models', ['rm', 'no-slash'], { RBEE_URL: q.url, LLORCH_API_TOKEN: q.token });
    expect((await usage.exited).code).toBe(2);
  }, 60_000);
});
