import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { ModelCatalog } from '../../src-main/hive/ModelCatalog.js';
import { parseSplitGgufName, splitGgufPartName, splitGgufPartNames } from '../../src-main/models/gguf/splitGgufName.js';
import { endOf, streamInference, tokensOf } from '../helpers/sseClient.js';
import { splitTinyModelShards } from '../helpers/tinyModel.js';
import { EventStream, startTestHive, type TestHive } from './hiveHarness.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rbee-split-'));
  dirs.push(dir);
  return dir;
}

async function writeShards(dir: string, prefix: string, shards: readonly Buffer[], skip: number[] = []): Promise<string[]> {
  const names = shards.map((_, i) => splitGgufPartName(prefix, i + 1, shards.length));
  for (const [i, name] of names.entries()) if (!skip.includes(i + 1)) await writeFile(join(dir, name), shards[i]!);
  return names;
}

describe('split GGUF names (llama.cpp gguf-split: <prefix>-%05d-of-%05d.gguf)', () => {
  it('parses shard names exactly and lists every shard of a model', () => {
    expect(parseSplitGgufName('m-Q4_K_M-00002-of-00003.gguf')).toEqual({ prefix: 'm-Q4_K_M', part: 2, parts: 3 });
    expect(parseSplitGgufName('m-Q4_K_M.gguf')).toBeNull();
    expect(parseSplitGgufName('m-0002-of-0003.gguf')).toBeNull(); // four digits: not llama.cpp's pattern
    expect(parseSplitGgufName('m-00004-of-00003.gguf')).toBeNull();
    expect(parseSplitGgufName('m-00000-of-00003.gguf')).toBeNull();
    expect(splitGgufPartNames('m-00002-of-00003.gguf')).toEqual(['m-00001-of-00003.gguf', 'm-00002-of-00003.gguf', 'm-00003-of-00003.gguf']);
    expect(splitGgufPartNames('single.gguf')).toEqual(['single.gguf']);
  });
});

describe('model catalog: a split GGUF is one model', () => {
  const shards = splitTinyModelShards(3, 5);
  const total = shards.reduce((sum, b) => sum + b.length, 0);

  it('lists three shards as ONE model named by the first shard, sized by their sum; a later shard is not a model', async () => {
    const dir = tempDir();
    const [first, second] = await writeShards(dir, 'tiny-F32', shards);
    const catalog = new ModelCatalog(dir, 'local');
    const models = await catalog.list();
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ name: first, parts: 3, size_bytes: total, architecture: 'llama', quantization: 'F32' });
    expect(catalog.pending.size).toBe(0);
    await expect(catalog.resolveComplete(first)).resolves.toBe(join(dir, first!));
    await expect(catalog.resolveComplete(second)).rejects.toMatchObject({ status: 400, code: 'INVALID_REQUEST', message: expect.stringMatching(/shard 2 of 3 .*first shard/) });
  });

  it('a missing shard keeps the model out of the list with a clear reason; the shard arriving makes it a model', async () => {
    const dir = tempDir();
    const [first, second] = await writeShards(dir, 'tiny', shards, [2]);
    const catalog = new ModelCatalog(dir, 'local');
    expect(await catalog.list()).toEqual([]);
    expect(catalog.pending.get(first!)).toBe('missing_parts');
    await expect(catalog.resolveComplete(first)).rejects.toMatchObject({ status: 409, code: 'CONFLICT', message: expect.stringContaining(`missing: ${second}`) });
    await writeFile(join(dir, second!), shards[1]!);
    expect((await catalog.list()).map((m) => m.name)).toEqual([first]);
    expect(catalog.pending.size).toBe(0);
  });

  it('shards without their first one are pending under the first shard name; a truncated shard is pending too', async () => {
    const dir = tempDir();
    const [first] = await writeShards(dir, 'orphan', shards, [1]);
    const catalog = new ModelCatalog(dir, 'local');
    expect(await catalog.list()).toEqual([]);
    expect(catalog.pending.get(first!)).toBe('missing_parts');

    const dir2 = tempDir();
    const names = await writeShards(dir2, 'cut', shards);
    await writeFile(join(dir2, names[2]!), shards[2]!.subarray(0, Math.floor(shards[2]!.length * 0.6)));
    const catalog2 = new ModelCatalog(dir2, 'local');
    expect(await catalog2.list()).toEqual([]);
    expect(catalog2.pending.get(names[0]!)).toBe('truncated');
  });

  it('shards whose split keys disagree with their names (swapped files, a renamed single shard) are refused', async () => {
    const dir = tempDir();
    const names = await writeShards(dir, 'swapped', shards);
    await writeFile(join(dir, names[1]!), shards[2]!);
    await writeFile(join(dir, names[2]!), shards[1]!);
    await writeFile(join(dir, 'renamed.gguf'), shards[0]!);
    const catalog = new ModelCatalog(dir, 'local');
    expect(await catalog.list()).toEqual([]);
    expect(catalog.pending.get(names[0]!)).toBe('bad_split');
    expect(catalog.pending.get('renamed.gguf')).toBe('bad_split');
  });
});

describe('a split GGUF through a real hive and worker', () => {
  let t: TestHive;
  let events: EventStream;
  const shards = splitTinyModelShards(3, 9);
  const names = shards.map((_, i) => splitGgufPartName('tiny-split', i + 1, 3));

  beforeAll(async () => {
    t = await startTestHive({ watchModels: { debounceMs: 50, rescanMs: 1_000, pendingRescanMs: 100 } });
    events = new EventStream(t.hive.url);
    await events.opened;
  });
  afterAll(async () => {
    events?.close();
    await t?.close();
  });

  it('is listed once when its last shard lands, serves real inference from the first shard, and is deleted whole', async () => {
    for (const [i, name] of names.entries()) if (i > 0) await writeFile(join(t.modelsDir, name), shards[i]!);
    await writeFile(join(t.modelsDir, names[0]!), shards[0]!);
    await events.waitFor((e) => e.type === 'models_updated' && e.models.some((m) => m.name === names[0] && m.parts === 3), 20_000);
    const listed = await t.api<{ models: Array<{ name: string }> }>('GET', '/v1/models');
    expect(listed.body.models.map((m) => m.name).filter((n) => n.startsWith('tiny-split'))).toEqual([names[0]]);

    // node-llama-cpp (llama.cpp) loads the split model from its first shard and finds the others by name.
    const started = await t.api<WorkerInfo>('POST', '/v1/workers', { id: 'split', model: names[0], device: 'cpu', slots: 1, threads: 1, ctx: 256 });
    expect(started.status).toBe(201);
    await events.waitForWorker('split', (w) => w.state === 'idle', 90_000);
    const creds = await t.api<{ url: string; token: string }>('GET', '/v1/workers/split/credentials');
    const result = await streamInference(`${creds.body.url}/v1/inference`, { prompt: 'Hello', max_tokens: 6, temperature: 0, ignore_eos: true }, { authorization: `Bearer ${creds.body.token}` });
    expect(result.status).toBe(200);
    expect(endOf(result)).toMatchObject({ stop_reason: 'max_tokens', tokens_out: 6 });
    expect(tokensOf(result).length).toBeGreaterThan(0); // bytes of one character may arrive as one token event

    // Refused while a worker uses it; once the worker is gone every shard goes.
    const refused = await t.api<{ error: { code: string } }>('DELETE', `/v1/models/${names[0]}`);
    expect(refused.status).toBe(409);
    const removed = await t.api('DELETE', '/v1/workers/split');
    expect(removed.status).toBeLessThan(300);
    const deleted = await t.api('DELETE', `/v1/models/${names[0]}`);
    expect(deleted.status).toBe(204);
    expect(readdirSync(t.modelsDir).filter((f) => f.startsWith('tiny-split'))).toEqual([]);
    for (const name of names) expect(existsSync(join(t.modelsDir, name))).toBe(false);
  }, 180_000);

  it('a start on an incomplete split model is a 409 naming the missing shard', async () => {
    await writeFile(join(t.modelsDir, names[0]!), shards[0]!);
    await writeFile(join(t.modelsDir, names[2]!), shards[2]!);
    const res = await t.api<{ error: { code: string; message: string } }>('POST', '/v1/workers', { id: 'half', model: names[0], device: 'cpu', slots: 1, threads: 1, ctx: 256 });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain(names[1]);
    await rm(join(t.modelsDir, names[0]!));
    await rm(join(t.modelsDir, names[2]!));
  });
});
