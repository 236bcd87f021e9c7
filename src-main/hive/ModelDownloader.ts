import { randomUUID } from 'node:crypto';
import { open, readFile, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { DownloadProgress } from '../../src-shared/cluster/ClusterEvent.js';
// Types only: undici itself is imported on the first download (it costs an idle hive ~15 MB of RSS).
import type { Agent, fetch as undiciFetch, Response as UndiciResponse } from 'undici';
import type { Logger } from '../common/log/createLogger.js';
import { DEFAULT_DOWNLOAD_NETWORK_POLICY, DownloadRefusedError, guardedLookup, refusalForUrlHost, type DownloadNetworkPolicy } from './downloadNetworkPolicy.js';
import type { HiveEventHub } from './HiveEventHub.js';
import { hasGgufMagic, readGgufSummary } from './ModelCatalog.js';
import { DEFAULT_HF_ENDPOINT, normalizeEndpoint, planDownload, type DownloadFile, type DownloadPlan, type RepoListing } from './planDownload.js';
import { readGgufExtent } from '../models/gguf/ggufDataExtent.js';
import { nominalBackoffMs } from '../../src-shared/policy/backoffDelay.js';

export interface ModelDownloaderOptions {
  dir: string;
  hiveId: string;
  hub: HiveEventHub;
  audit: AuditSink;
  logger: Logger;
  /** Called after a model landed in the folder (the hive refreshes its catalog). */
  onDownloaded(name: string): void;
  /** Consecutive failed attempts (no byte received) before giving up. Defaults to 5. */
  maxAttempts?: number;
  /** First retry delay; doubles per failed attempt, capped at 5 s. Defaults to 250 ms. */
  retryBaseMs?: number;
  /** Progress events at most this often. Defaults to 250 ms. */
  progressIntervalMs?: number;
  /** Bearer token for `hf:` sources. Defaults to env HF_TOKEN. */
  hfToken?: string;
  /**
   * Where `hf:` sources resolve (the repo listing API and the files). Defaults to env HF_ENDPOINT (the
   * variable huggingface_hub reads, for mirrors), else https://huggingface.co.
   */
  hfEndpoint?: string;
  /** Which addresses may be fetched from (SSRF). Defaults to no loopback, private LAN allowed. */
  network?: Partial<DownloadNetworkPolicy>;
  /** Largest model accepted. Defaults to 256 GiB. */
  maxBytes?: number;
  /** Free space the models folder keeps; a download that would go below it fails. Defaults to 512 MiB. */
  minFreeBytes?: number;
  /** Downloads running at once on this hive. Defaults to 2. */
  maxConcurrent?: number;
}

const MAX_REDIRECTS = 5;
const FREE_SPACE_CHECK_BYTES = 64 * 1024 * 1024;

/** The listing API's answer: only what we read, every entry checked (a hostile answer is just data). */
const RepoInfoSchema = z.object({
  siblings: z.array(z.unknown()),
});
const SiblingSchema = z.object({
  rfilename: z.string(),
  size: z.number().int().nonnegative().optional(),
  lfs: z.object({ size: z.number().int().nonnegative().optional() }).optional(),
});

/** Largest listing answer read: a real repo's is a few hundred KiB. */
const MAX_LISTING_BYTES = 8 * 1024 * 1024;
const LISTING_TIMEOUT_MS = 30_000;

class DownloadAttemptError extends Error {
  constructor(
    message: string,
    readonly fatal: boolean,
    /** A validator learnt (or lost: null) by the failed attempt; undefined = unchanged. */
    readonly validator?: string | null,
  ) {
    super(message);
  }
}

/**
 * Downloads models into the models folder: resumable (HTTP Range on the `.part` file, across
 * dropped connections and hive restarts), atomic (fsync, then rename into place), validated (GGUF
 * magic and a header parse) and reported on the event stream as `download_progress`.
 */
export class ModelDownloader {
  private readonly active = new Map<string, { name: string; names: string[]; abort: AbortController; done: Promise<void> }>();
  private readonly network: DownloadNetworkPolicy;
  /** Every connection resolves through the guarded lookup: the address checked is the one used. Made on the first download. */
  private agent: Promise<{ agent: Agent; fetch: typeof undiciFetch }> | null = null;
  private readonly maxBytes: number;
  private readonly minFreeBytes: number;

  constructor(private readonly options: ModelDownloaderOptions) {
    this.network = { ...DEFAULT_DOWNLOAD_NETWORK_POLICY, ...options.network };
    this.maxBytes = options.maxBytes ?? 256 * 1024 ** 3;
    this.minFreeBytes = options.minFreeBytes ?? 512 * 1024 * 1024;
  }

  /**
   * Starts a download in the background; resolves once the request is accepted. An `hf:` tag is
   * resolved first (the repo listing), so a tag that picks nothing is a 4xx here, not a failed job.
   */
  async start(source: unknown, name?: unknown): Promise<{ download_id: string; name: string }> {
    const maxConcurrent = this.options.maxConcurrent ?? 2;
    if (this.active.size >= maxConcurrent) {
      throw new ApiError(429, 'RATE_LIMITED', `At most ${maxConcurrent} downloads run at once on a hive; try again when one ends`, undefined, { 'retry-after': '5' });
    }
    const hfToken = this.options.hfToken ?? process.env.HF_TOKEN;
    const hfEndpoint = this.options.hfEndpoint ?? (process.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT);
    const plan = await planDownload(source, name, { hfToken, hfEndpoint, listRepo: (user, repo) => this.listRepo(hfEndpoint, user, repo, hfToken) });
    for (const file of plan.files) {
      const refusal = refusalForUrlHost(new URL(file.url), this.network);
      if (refusal) throw new ApiError(403, 'DOWNLOAD_REFUSED', `Refusing to download from ${new URL(file.url).host}: ${refusal}`);
    }
    if (this.active.size >= maxConcurrent) {
      throw new ApiError(429, 'RATE_LIMITED', `At most ${maxConcurrent} downloads run at once on a hive; try again when one ends`, undefined, { 'retry-after': '5' });
    }
    const names = new Set(plan.files.map((f) => f.name));
    if ([...this.active.values()].some((d) => d.names.some((n) => names.has(n)))) {
      throw new ApiError(409, 'CONFLICT', `A download of '${plan.name}' is already running`);
    }
    for (const file of plan.files) {
      if (await exists(join(this.options.dir, file.name))) {
        throw new ApiError(409, 'CONFLICT', file.name === plan.name ? `Model '${plan.name}' already exists` : `Shard '${file.name}' of model '${plan.name}' already exists`);
      }
    }
    const id = randomUUID();
    const abort = new AbortController();
    const done = this.run(id, String(source), plan, abort.signal).finally(() => this.active.delete(id));
    this.active.set(id, { name: plan.name, names: [...names], abort, done });
    return { download_id: id, name: plan.name };
  }

  /**
   * `GET <endpoint>/api/models/<user>/<repo>?blobs=true` (siblings with sizes), through the same SSRF
   * guard as the downloads. 404 when the repo does not exist or is private without a token; 502 when
   * the API cannot be reached or answers nonsense.
   */
  private async listRepo(endpoint: string, user: string, repo: string, hfToken: string | undefined): Promise<RepoListing> {
    const repoId = `${user}/${repo}`;
    const url = `${normalizeEndpoint(endpoint)}/api/models/${encodeURIComponent(user)}/${encodeURIComponent(repo)}?blobs=true`;
    const signal = AbortSignal.timeout(LISTING_TIMEOUT_MS);
    let text: string;
    try {
      const res = await this.fetchChecked(url, { accept: 'application/json', ...(hfToken ? { authorization: `Bearer ${hfToken}` } : {}) }, signal);
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        await res.body?.cancel();
        throw new ApiError(404, 'MODEL_NOT_FOUND', `Hugging Face has no repo ${repoId} (HTTP ${res.status}; a private or gated repo needs HF_TOKEN)`);
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new ApiError(502, 'UPSTREAM_ERROR', `Listing ${repoId} failed: HTTP ${res.status} from ${new URL(url).host}`);
      }
      text = await readCapped(res, MAX_LISTING_BYTES);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (isRefusal(error) || (error instanceof DownloadAttemptError && error.message.startsWith('refusing'))) {
        throw new ApiError(403, 'DOWNLOAD_REFUSED', `Refusing to list ${repoId}: ${errorMessage(error)}`);
      }
      throw new ApiError(502, 'UPSTREAM_ERROR', `Listing ${repoId} failed: ${errorMessage(error)}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(502, 'UPSTREAM_ERROR', `Listing ${repoId} failed: the answer is not JSON`);
    }
    const info = RepoInfoSchema.safeParse(body);
    if (!info.success) throw new ApiError(502, 'UPSTREAM_ERROR', `Listing ${repoId} failed: the answer has no siblings list`);
    const listing: RepoListing = [];
    for (const entry of info.data.siblings) {
      const sibling = SiblingSchema.safeParse(entry);
      if (sibling.success) listing.push({ path: sibling.data.rfilename, size: sibling.data.lfs?.size ?? sibling.data.size ?? null });
    }
    return listing;
  }

  /** Aborts running downloads (their `.part` files stay for a later resume). */
  async dispose(): Promise<void> {
    const running = [...this.active.values()];
    for (const d of running) d.abort.abort();
    await Promise.all(running.map((d) => d.done.catch(() => undefined)));
    const agent = this.agent;
    this.agent = null;
    if (agent) await (await agent).agent.close().catch(() => undefined);
  }

  /**
   * One job: every file of the plan in turn, each into its own `.part` (resumable on its own), progress
   * summed over the files. Nothing is renamed into place until every file is complete and valid; then
   * later shards first and the first shard (the model's name) last.
   */
  private async run(id: string, source: string, plan: DownloadPlan, signal: AbortSignal): Promise<void> {
    const { dir, hub, hiveId, logger } = this.options;
    const interval = this.options.progressIntervalMs ?? 250;
    const parts = plan.files.map((file) => ({ file, partPath: join(dir, `.${file.name}.part`), received: 0, total: file.size }));
    let lastReport = 0;
    const report = (state: DownloadProgress['state'], message: string | null = null, force = false): void => {
      const now = Date.now();
      if (!force && now - lastReport < interval) return;
      lastReport = now;
      const totals = parts.map((p) => p.total);
      hub.publish({
        type: 'download_progress',
        progress: {
          hive_id: hiveId,
          download_id: id,
          source,
          received_bytes: parts.reduce((sum, p) => sum + p.received, 0),
          // Known once every file's size is: a bar that jumps back as shards start would mislead.
          total_bytes: totals.every((t) => t !== null) ? totals.reduce<number>((sum, t) => sum + (t ?? 0), 0) : null,
          state,
          message,
          ...(parts.length > 1 ? { files: { done: parts.filter((p) => p.total !== null && p.received === p.total).length, total: parts.length } } : {}),
        },
      });
    };
    for (const p of parts) p.received = (await fileSize(p.partPath)) ?? 0;
    report('running', null, true);

    try {
      for (const [i, p] of parts.entries()) {
        const budget = this.maxBytes - parts.slice(0, i).reduce((sum, q) => sum + q.received, 0);
        await this.downloadFile(id, plan, p, budget, signal, () => report('running'), (message) => report('running', message, true));
      }
      for (const [i, p] of parts.entries()) await this.validate(p.partPath, p.file.name, i, parts.length);
      for (const p of parts) if (await exists(join(dir, p.file.name))) throw new DownloadAttemptError(`'${p.file.name}' appeared while downloading`, true);
      for (const p of [...parts.slice(1), parts[0]!]) {
        await rename(p.partPath, join(dir, p.file.name));
        await unlink(`${p.partPath}.json`).catch(() => undefined);
      }
      report('done', null, true);
      const bytes = parts.reduce((sum, p) => sum + p.received, 0);
      logger.info({ download_id: id, name: plan.name, files: parts.length, bytes }, 'model downloaded');
      this.options.audit
        .emit({ event_type: 'model_downloaded', actor: `hive:${hiveId}`, hive_id: hiveId, details: { name: plan.name, bytes, files: parts.length, source: source.slice(0, 256) } })
        .catch((error: unknown) => logger.warn({ err: error }, 'audit emit failed'));
      this.options.onDownloaded(plan.name);
    } catch (error) {
      const message = errorMessage(error);
      logger.warn({ download_id: id, err: message }, 'download failed');
      // An aborted download (hive shutting down) keeps its part files for a later resume; a failed one
      // leaves nothing behind.
      if (!signal.aborted) {
        for (const p of parts) {
          await removePart(p.partPath);
          await unlink(`${p.partPath}.json`).catch(() => undefined);
        }
      }
      report('failed', message, true);
    }
  }

  /** A downloaded file is a GGUF that parses; a shard also carries the split keys of its place. */
  private async validate(partPath: string, name: string, index: number, count: number): Promise<void> {
    if (!(await hasGgufMagic(partPath))) throw new DownloadAttemptError(`${count > 1 ? `shard '${name}'` : 'the downloaded file'} is not a GGUF file`, true);
    try {
      if (count === 1) {
        await readGgufSummary(partPath);
        return;
      }
      const extent = await readGgufExtent(partPath);
      if (extent.requiredBytes > extent.sizeBytes) throw new Error('its tensor data is shorter than its header says');
      if (!extent.split || extent.split.no !== index || extent.split.count !== count) {
        throw new Error(`its split keys (split.no ${extent.split?.no ?? '-'}, split.count ${extent.split?.count ?? '-'}) do not say shard ${index + 1} of ${count}`);
      }
    } catch (error) {
      throw new DownloadAttemptError(`${count > 1 ? `shard '${name}'` : 'the downloaded GGUF file'} does not parse: ${errorMessage(error)}`, true);
    }
  }

  /** One file into its part file: resumed, retried with backoff, until complete (or given up). */
  private async downloadFile(
    id: string,
    plan: DownloadPlan,
    p: { file: DownloadFile; partPath: string; received: number; total: number | null },
    budget: number,
    signal: AbortSignal,
    onProgress: () => void,
    onResume: (message: string) => void,
  ): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 5;
    const retryBase = this.options.retryBaseMs ?? 250;
    const metaPath = `${p.partPath}.json`;
    const resolved = { url: p.file.url, headers: plan.headers };
    // A part file resumes only with a validator remembered for the same URL; anything else starts over.
    let validator = await readPartValidator(metaPath, resolved.url);
    if (validator === null) await removePart(p.partPath);
    p.received = (await fileSize(p.partPath)) ?? 0;
    // A shard finished before a restart (its size known from the listing) is not fetched again.
    if (p.file.size !== null && p.received === p.file.size && validator !== null) return;
    let failures = 0;
    for (;;) {
      if (signal.aborted) throw new DownloadAttemptError('download aborted', true);
      const before = p.received;
      try {
        let total: number | null;
        ({ received: p.received, total, validator } = await this.attempt(
          resolved,
          p.partPath,
          p.received,
          validator,
          budget,
          signal,
          (r, t) => {
            p.received = r;
            p.total = t ?? p.total;
            onProgress();
          },
          async (learnt) => {
            // Known before the first byte is written: a drop mid-body can still resume with it.
            validator = learnt;
            await writePartValidator(metaPath, resolved.url, learnt);
          },
        ));
        if (total === null) {
          p.total = p.received;
          return;
        }
        p.total = total;
        if (p.received === total) return;
        throw new DownloadAttemptError(`connection ended at ${p.received} of ${total} bytes`, false);
      } catch (error) {
        const attemptError = error instanceof DownloadAttemptError ? error : new DownloadAttemptError(errorMessage(error), signal.aborted || isRefusal(error));
        if (attemptError.fatal) throw attemptError;
        if (attemptError.validator !== undefined) validator = attemptError.validator;
        if (validator === null) await removePart(p.partPath);
        p.received = (await fileSize(p.partPath)) ?? 0;
        failures = p.received > before ? 1 : failures + 1;
        if (failures >= maxAttempts) throw new DownloadAttemptError(`giving up after ${failures} failed attempts: ${attemptError.message}`, true);
        this.options.logger.warn({ download_id: id, file: p.file.name, received: p.received, err: attemptError.message }, 'download interrupted: resuming');
        onResume(`resuming after: ${attemptError.message}`);
        await delay(nominalBackoffMs(failures, { backoff_base_ms: retryBase, backoff_max_ms: 5_000 }), signal);
      }
    }
  }

  /** One HTTP request, appending to the part file from `offset`. */
  private async attempt(
    resolved: { url: string; headers: Record<string, string> },
    partPath: string,
    offset: number,
    validator: string | null,
    /** Bytes this file may have: the hive's limit less the shards before it. */
    budget: number,
    signal: AbortSignal,
    onProgress: (received: number, total: number | null) => void,
    onValidator: (validator: string | null) => Promise<void>,
  ): Promise<{ received: number; total: number | null; validator: string | null }> {
    const headers: Record<string, string> = { ...resolved.headers };
    if (offset > 0) {
      if (!validator) throw new DownloadAttemptError('no validator to resume with: starting over', false, null);
      headers.range = `bytes=${offset}-`;
      headers['if-range'] = validator;
    }
    const res = await this.fetchChecked(resolved.url, headers, signal);
    if (res.status === 416 && offset > 0) {
      await res.body?.cancel();
      // The part file is at least as long as the resource: start over.
      await unlink(partPath).catch(() => undefined);
      throw new DownloadAttemptError('range not satisfiable: restarting from 0', false);
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw new DownloadAttemptError(`HTTP ${res.status} from ${new URL(res.url || resolved.url).host}`, res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429);
    }
    const append = res.status === 206;
    let received = append ? offset : 0;
    let total: number | null = null;
    const length = Number(res.headers.get('content-length') ?? NaN);
    if (append) {
      const range = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
      total = range ? Number(range[1]) : Number.isFinite(length) ? offset + length : null;
    } else if (Number.isFinite(length)) {
      total = length;
    }
    const nextValidator = strongValidator(res) ?? (append ? validator : null);
    if (total !== null && total > budget) {
      await res.body?.cancel();
      throw new DownloadAttemptError(`the model is ${total + (this.maxBytes - budget)} bytes, over this hive's limit of ${this.maxBytes}`, true);
    }
    await this.checkFreeSpace(total === null ? 0 : total - received);
    await onValidator(nextValidator);
    const handle = await open(partPath, append ? 'a' : 'w', 0o644);
    try {
      onProgress(received, total);
      let sinceSpaceCheck = 0;
      if (res.body) {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          received += chunk.byteLength;
          if (received > budget) {
            await res.body.cancel().catch(() => undefined);
            throw new DownloadAttemptError(`the download passed this hive's limit of ${this.maxBytes} bytes`, true);
          }
          sinceSpaceCheck += chunk.byteLength;
          if (sinceSpaceCheck >= FREE_SPACE_CHECK_BYTES) {
            sinceSpaceCheck = 0;
            await this.checkFreeSpace(0);
          }
          await handle.write(chunk);
          onProgress(received, total);
        }
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    return { received, total, validator: nextValidator };
  }

  /**
   * GET with redirects followed by hand: every hop's URL is checked (scheme, IP-literal host) before
   * it is requested, names are checked at connect time by the guarded lookup, and credentials are not
   * carried to another host.
   */
  private client(): Promise<{ agent: Agent; fetch: typeof undiciFetch }> {
    this.agent ??= import('undici').then(({ Agent, fetch }) => ({ agent: new Agent({ connect: { lookup: guardedLookup(this.network) } }), fetch }));
    return this.agent;
  }

  private async fetchChecked(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<UndiciResponse> {
    let current = new URL(url);
    let hopHeaders = headers;
    for (let hop = 0; ; hop += 1) {
      const refusal = refusalForUrlHost(current, this.network);
      if (refusal) throw new DownloadAttemptError(`refusing to download from ${current.host}: ${refusal}`, true);
      const client = await this.client();
      const res = await client.fetch(current, { headers: hopHeaders, signal, redirect: 'manual', dispatcher: client.agent });
      if (res.status < 300 || res.status >= 400 || res.status === 304) return res;
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location) throw new DownloadAttemptError(`HTTP ${res.status} without a Location from ${current.host}`, true);
      if (hop >= MAX_REDIRECTS) throw new DownloadAttemptError(`more than ${MAX_REDIRECTS} redirects`, true);
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new DownloadAttemptError(`redirect to an unsupported scheme ${next.protocol}`, true);
      if (next.host !== current.host) {
        const { authorization: _dropped, ...rest } = hopHeaders;
        hopHeaders = rest;
      }
      current = next;
    }
  }

  private async checkFreeSpace(needed: number): Promise<void> {
    let free: number;
    try {
      const fs = await statfs(this.options.dir);
      free = fs.bavail * fs.bsize;
    } catch {
      return; // no statfs here: the write itself fails on a full disk
    }
    if (free - needed < this.minFreeBytes) {
      throw new DownloadAttemptError(`not enough free space in the models folder: ${free} bytes free, ${needed} more needed, ${this.minFreeBytes} kept free`, true);
    }
  }
}

function isRefusal(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = (e as Error & { cause?: unknown }).cause) {
    if (e instanceof DownloadRefusedError) return true;
  }
  return false;
}

/** A strong ETag, else Last-Modified: what `If-Range` may carry (a weak ETag may not). */
function strongValidator(res: UndiciResponse): string | null {
  const etag = res.headers.get('etag');
  if (etag && !etag.startsWith('W/')) return etag;
  return res.headers.get('last-modified');
}

async function readPartValidator(metaPath: string, url: string): Promise<string | null> {
  try {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { url?: unknown; validator?: unknown };
    return meta.url === url && typeof meta.validator === 'string' ? meta.validator : null;
  } catch {
    return null;
  }
}

async function writePartValidator(metaPath: string, url: string, validator: string | null): Promise<void> {
  if (validator === null) {
    await unlink(metaPath).catch(() => undefined);
    return;
  }
  await writeFile(metaPath, JSON.stringify({ url, validator }), { mode: 0o600 });
}

/** The body as text, refused past `max` bytes (a hostile API answer cannot fill memory). */
async function readCapped(res: UndiciResponse, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      length += chunk.byteLength;
      if (length > max) {
        await res.body.cancel().catch(() => undefined);
        throw new Error(`the answer is over ${max} bytes`);
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks, length).toString('utf8');
}

async function removePart(partPath: string): Promise<void> {
  await unlink(partPath).catch(() => undefined);
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  return (await fileSize(path)) !== null;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
