import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent, DownloadProgress } from '../../src-shared/cluster/ClusterEvent.js';
import type { ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import { isSafeRepoPath, parseHfSource, pickByTag } from '../../src-main/hive/huggingFaceSource.js';
import { buildTinyLlamaGguf } from '../../src-main/models/gguf/tinyLlamaModel.js';
import { startFakeHuggingFace, type FakeHuggingFace } from '../helpers/fakeHuggingFace.js';
import { splitTinyModelShards } from '../helpers/tinyModel.js';
import { EventStream, startTestHive, type TestHive } from './hiveHarness.js';

const HF_TOKEN = 'hf_test_token_0123456789';

describe('hf: sources and quantization tags (pure rules)', () => {
  it('parses the three hf: forms and rejects a bad tag syntax', () => {
    expect(parseHfSource('hf:acme/Tiny-GGUF:Q4_K_M')).toEqual({ kind: 'tag', user: 'acme', repo: 'Tiny-GGUF', tag: 'Q4_K_M' });
    expect(parseHfSource('hf:acme/Tiny-GGUF')).toEqual({ kind: 'tag', user: 'acme', repo: 'Tiny-GGUF', tag: 'Q4_K_M' });
    expect(parseHfSource('hf:acme/Tiny-GGUF/sub/x.gguf')).toEqual({ kind: 'file', user: 'acme', repo: 'Tiny-GGUF', path: 'sub/x.gguf' });
    for (const bad of ['hf:acme/Tiny-GGUF:Q4;rm', 'hf:acme/Tiny-GGUF:../x', 'hf:acme/Tiny-GGUF:', 'hf:acme/Tiny-GGUF:Q4 K', 'hf:acme/r:Q4/x.gguf', 'hf:../r:Q4', 'hf:acme', 'hf:a/r/../x.gguf']) {
      expect(() => parseHfSource(bad), bad).toThrow(expect.objectContaining({ status: 400, code: 'INVALID_REQUEST' }));
    }
  });

  it('matches the whole last word of the file name (or its folder) case-insensitively; groups shards; skips mmproj and unsafe paths', () => {
    const listing = [
      'README.md',
      'm-7B-Q4_K_M.gguf',
      'm-7B.Q8_0.gguf',
      'mmproj-m-F16.gguf',
      'm-7B-F16.gguf',
      'Q2_K/m-7B-Q2_K-00002-of-00002.gguf',
      'Q2_K/m-7B-Q2_K-00001-of-00002.gguf',
      'IQ1/m-00001-of-00002.gguf',
      'IQ1/m-00002-of-00002.gguf',
      '../../escape-Q3_K.gguf',
    ];
    expect(pickByTag('a/r', listing, 'q4_k_m').files).toEqual(['m-7B-Q4_K_M.gguf']);
    expect(pickByTag('a/r', listing, 'Q8_0').files).toEqual(['m-7B.Q8_0.gguf']);
    expect(pickByTag('a/r', listing, 'F16').files).toEqual(['m-7B-F16.gguf']); // not the projector
    expect(pickByTag('a/r', listing, 'Q2_K').files).toEqual(['Q2_K/m-7B-Q2_K-00001-of-00002.gguf', 'Q2_K/m-7B-Q2_K-00002-of-00002.gguf']);
    expect(pickByTag('a/r', listing, 'iq1').files).toEqual(['IQ1/m-00001-of-00002.gguf', 'IQ1/m-00002-of-00002.gguf']); // by its folder
    expect(() => pickByTag('a/r', listing, 'Q4_K')).toThrow(expect.objectContaining({ status: 404, code: 'MODEL_NOT_FOUND' })); // not a prefix match
    expect(() => pickByTag('a/r', listing, 'Q3_K')).toThrow(expect.objectContaining({ status: 404 })); // only an unsafe path has it
    expect(() => pickByTag('a/r', [...listing, 'other/m-Q8_0.gguf'], 'Q8_0')).toThrow(expect.objectContaining({ status: 409, code: 'CONFLICT' }));
    expect(() => pickByTag('a/r', ['x-Q5_0-00001-of-00003.gguf', 'x-Q5_0-00003-of-00003.gguf'], 'Q5_0')).toThrow(expect.objectContaining({ status: 502 }));
    for (const unsafe of ['../x.gguf', 'a/../../x.gguf', '/abs.gguf', 'a\\..\\x.gguf', 'a//x.gguf', './x.gguf', 'x\u0000.gguf', '']) expect(isSafeRepoPath(unsafe), unsafe).toBe(false);
  });
});

describe('hf:<user>/<repo>:<TAG> and split GGUF downloads (real hive, local Hugging Face stand-in)', () => {
  const single = buildTinyLlamaGguf({ seed: 11 });
  const q8 = buildTinyLlamaGguf({ seed: 12 });
  const shards = splitTinyModelShards(3, 13);
  const shardBytes = shards.reduce((sum, b) => sum + b.length, 0);
  // The network boundary of these tests: a real local HTTP server answering like Hugging Face.
  let hf: FakeHuggingFace;
  let t: TestHive;
  let events: EventStream;

  beforeAll(async () => {
    hf = await startFakeHuggingFace({
      'acme/Tiny-GGUF': {
        'README.md': Buffer.from('# tiny'),
        'tiny-Q4_K_M.gguf': single,
        'tiny.Q8_0.gguf': q8,
        'sub/tiny-Q8_0.gguf': q8,
        'mmproj-tiny-F16.gguf': single,
        'Q2_K/tiny-Q2_K-00001-of-00003.gguf': shards[0]!,
        'Q2_K/tiny-Q2_K-00002-of-00003.gguf': shards[1]!,
        'Q2_K/tiny-Q2_K-00003-of-00003.gguf': shards[2]!,
      },
      // A hostile listing: every name tries to leave the models folder.
      'evil/repo': {
        '../../escape-Q4_K_M.gguf': single,
        'a/../../../escape2-Q4_K_M.gguf': single,
        '/abs-Q4_K_M.gguf': single,
        '..\\win-Q4_K_M.gguf': single,
      },
      'acme/broken': { __raw: 'this is not json' },
    });
    t = await startTestHive({
      watchModels: { debounceMs: 50, rescanMs: 1_000, pendingRescanMs: 100 },
      download: { retryBaseMs: 50, progressIntervalMs: 0, network: { allowLoopback: true }, hfEndpoint: hf.base, hfToken: HF_TOKEN },
    });
    events = new EventStream(t.hive.url);
    await events.opened;
  });
  afterAll(async () => {
    events?.close();
    await t?.close();
    await new Promise((r) => hf?.server.close(r));
  });

  const finished = (id: string): Promise<DownloadProgress> =>
    events
      .waitFor<Extract<ClusterEvent, { type: 'download_progress' }>>((e) => e.type === 'download_progress' && e.progress.download_id === id && e.progress.state !== 'running', 60_000)
      .then((e) => e.progress);
  const start = (source: string, name?: string) =>
    t.api<{ download_id: string; name: string; error?: { code: string; message: string } }>('POST', '/v1/models/download', name === undefined ? { source } : { source, name });

  it('a tag picks the one file whose name ends in it (case-insensitive), listing the repo with the token', async () => {
    const res = await start('hf:acme/Tiny-GGUF:q4_k_m');
    expect(res.status).toBe(202);
    expect(res.body.name).toBe('tiny-Q4_K_M.gguf');
    expect(await finished(res.body.download_id)).toMatchObject({ state: 'done', received_bytes: single.length, total_bytes: single.length });
    expect((await readFile(join(t.modelsDir, 'tiny-Q4_K_M.gguf'))).equals(single)).toBe(true);
    const listing = hf.requests.find((r) => r.path === '/api/models/acme/Tiny-GGUF');
    expect(listing?.auth).toBe(`Bearer ${HF_TOKEN}`);
  });

  it('a tag that picks a split model downloads every shard as ONE job (bytes summed, a dropped shard resumed) and lists ONE model', async () => {
    const res = await start('hf:acme/Tiny-GGUF:Q2_K');
    expect(res.status).toBe(202);
    expect(res.body.name).toBe('tiny-Q2_K-00001-of-00003.gguf');
    const done = await finished(res.body.download_id);
    expect(done).toMatchObject({ state: 'done', received_bytes: shardBytes, total_bytes: shardBytes, files: { done: 3, total: 3 } });
    const progress = events.events.flatMap((e) => (e.type === 'download_progress' && e.progress.download_id === res.body.download_id ? [e.progress] : []));
    // One job: one id, the summed total from the start, received never above it.
    expect(progress.every((p) => p.total_bytes === shardBytes && p.received_bytes <= shardBytes)).toBe(true);
    expect(progress.some((p) => p.message?.startsWith('resuming'))).toBe(true);
    const middle = hf.requests.filter((r) => r.path.endsWith('tiny-Q2_K-00002-of-00003.gguf'));
    expect(middle).toHaveLength(2);
    for (const [i, shard] of shards.entries()) expect((await readFile(join(t.modelsDir, `tiny-Q2_K-0000${i + 1}-of-00003.gguf`))).equals(shard)).toBe(true);
    expect(readdirSync(t.modelsDir).filter((f) => f.includes('.part'))).toEqual([]);
    await events.waitFor((e) => e.type === 'models_updated' && e.models.some((m: ModelInfo) => m.name === res.body.name), 30_000);
    const listed = (await t.api<{ models: ModelInfo[] }>('GET', '/v1/models')).body.models.filter((m) => m.name.startsWith('tiny-Q2_K'));
    expect(listed).toEqual([expect.objectContaining({ name: 'tiny-Q2_K-00001-of-00003.gguf', parts: 3, size_bytes: shardBytes })]);
  });

  it('naming any shard downloads the whole model, renamed by `name`; an existing shard is a 409', async () => {
    const res = await start('hf:acme/Tiny-GGUF/Q2_K/tiny-Q2_K-00002-of-00003.gguf', 'mine.gguf');
    expect(res.status).toBe(202);
    expect(res.body.name).toBe('mine-00001-of-00003.gguf');
    expect((await finished(res.body.download_id)).state).toBe('done');
    for (const i of [1, 2, 3]) expect(existsSync(join(t.modelsDir, `mine-0000${i}-of-00003.gguf`))).toBe(true);

    await writeFile(join(t.modelsDir, 'other-00003-of-00003.gguf'), shards[2]!);
    const clash = await start('hf:acme/Tiny-GGUF:Q2_K', 'other.gguf');
    expect(clash.status).toBe(409);
    expect(clash.body.error?.message).toContain('other-00003-of-00003.gguf');
  });

  it('typed 4xx errors: no match lists the tags, ambiguous names the files, bad tag, unknown repo; a broken API is 502', async () => {
    const none = await start('hf:acme/Tiny-GGUF:Q5_K_S');
    expect(none.status).toBe(404);
    expect(none.body.error?.code).toBe('MODEL_NOT_FOUND');
    expect(none.body.error?.message).toMatch(/matches the tag 'Q5_K_S'; available tags: .*Q2_K.*Q4_K_M.*Q8_0/);
    const two = await start('hf:acme/Tiny-GGUF:Q8_0');
    expect(two.status).toBe(409);
    expect(two.body.error?.message).toMatch(/sub\/tiny-Q8_0\.gguf.*tiny\.Q8_0\.gguf|tiny\.Q8_0\.gguf.*sub\/tiny-Q8_0\.gguf/);
    const bad = await start('hf:acme/Tiny-GGUF:Q4_K_M;rm');
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('INVALID_REQUEST');
    const missing = await start('hf:nobody/nothing:Q4_K_M');
    expect(missing.status).toBe(404);
    const broken = await start('hf:acme/broken:Q4_K_M');
    expect(broken.status).toBe(502);
    expect(broken.body.error?.code).toBe('UPSTREAM_ERROR');
  });

  it('the repo listing goes through the SSRF guard too: a hive that refuses loopback refuses to list there (403), asking nothing', async () => {
    const strict = await startTestHive({ watchModels: false, download: { hfEndpoint: hf.base } });
    try {
      const seen = hf.requests.length;
      const res = await strict.api<{ error: { code: string } }>('POST', '/v1/models/download', { source: 'hf:acme/Tiny-GGUF:Q4_K_M' });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('DOWNLOAD_REFUSED');
      expect(hf.requests.length).toBe(seen);
    } finally {
      await strict.close();
    }
  });

  it('a hostile listing never writes outside the models folder: its traversal names are ignored, nothing is fetched', async () => {
    const res = await start('hf:evil/repo:Q4_K_M');
    expect(res.status).toBe(404);
    expect(res.body.error?.message).toMatch(/has no \.gguf model files/);
    expect(hf.requests.filter((r) => r.path.startsWith('/evil/repo/resolve'))).toEqual([]);
    // Where the traversal names would have landed (checked by path: the temp folder is shared with other tests).
    for (const escaped of ['../../escape-Q4_K_M.gguf', '../escape-Q4_K_M.gguf', '../../../escape2-Q4_K_M.gguf', '../escape2-Q4_K_M.gguf', '../abs-Q4_K_M.gguf', '/abs-Q4_K_M.gguf']) {
      expect(existsSync(escaped.startsWith('/') ? escaped : join(t.modelsDir, escaped)), escaped).toBe(false);
    }
    expect(readdirSync(t.modelsDir).some((f) => f.includes('escape') || f.includes('abs') || f.includes('win'))).toBe(false);
  });
});
