import { randomUUID } from 'node:crypto';
import { open, readFile, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { DownloadProgress } from '../../src-shared/cluster/ClusterEvent.js';
import { Agent, fetch as undiciFetch, type Response as UndiciResponse } from 'undici';
import type { Logger } from '../common/log/createLogger.js';
import { DEFAULT_DOWNLOAD_NETWORK_POLICY, DownloadRefusedError, guardedLookup, refusalForUrlHost, type DownloadNetworkPolicy } from './downloadNetworkPolicy.js';
import type { HiveEventHub } from './HiveEventHub.js';
import { hasGgufMagic, readGgufSummary, validateModelName } from './ModelCatalog.js';
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

export interface ResolvedSource {
  url: string;
  name: string;
  headers: Record<string, string>;
}

/** `hf:<user>/<repo>/<path/in/repo.gguf>` → Hugging Face's resolve URL; http(s) URLs as they are. */
export function resolveDownloadSource(source: unknown, name: unknown, hfToken?: string): ResolvedSource {
  if (typeof source !== 'string' || source.length === 0 || source.length > 2048) {
    throw new ApiError(400, 'INVALID_REQUEST', 'source must be an hf: URI or an http(s) URL (at most 2048 characters)');
  }
  let url: URL;
  const headers: Record<string, string> = {};
  if (source.startsWith('hf:')) {
    const parts = source.slice(3).replace(/^\/+/, '').split('/');
    if (parts.length < 3 || parts.some((p) => p === '' || p === '.' || p === '..')) {
      throw new ApiError(400, 'INVALID_REQUEST', `Invalid hf: URI '${source.slice(0, 200)}': expected hf:<user>/<repo>/<file.gguf>`);
    }
    const [user, repo, ...file] = parts as [string, string, ...string[]];
    url = new URL(`https://huggingface.co/${encodeURIComponent(user)}/${encodeURIComponent(repo)}/resolve/main/${file.map(encodeURIComponent).join('/')}`);
    if (hfToken) headers.authorization = `Bearer ${hfToken}`;
  } else {
    try {
      url = new URL(source);
    } catch {
      throw new ApiError(400, 'INVALID_REQUEST', `Invalid source '${source.slice(0, 200)}': expected an hf: URI or an http(s) URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ApiError(400, 'INVALID_REQUEST', `Unsupported source scheme '${url.protocol}': use hf:, http: or https:`);
    }
    if (url.username || url.password) throw new ApiError(400, 'INVALID_REQUEST', 'Credentials in the source URL are not accepted');
  }
  const derived = decodeURIComponent(posix.basename(url.pathname));
  const target = validateModelName(name === undefined || name === null ? derived : name);
  return { url: url.toString(), name: target, headers };
}

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
  private readonly active = new Map<string, { name: string; abort: AbortController; done: Promise<void> }>();
  private readonly network: DownloadNetworkPolicy;
  /** Every connection resolves through the guarded lookup: the address checked is the one used. */
  private readonly agent: Agent;
  private readonly maxBytes: number;
  private readonly minFreeBytes: number;

  constructor(private readonly options: ModelDownloaderOptions) {
    this.network = { ...DEFAULT_DOWNLOAD_NETWORK_POLICY, ...options.network };
    this.agent = new Agent({ connect: { lookup: guardedLookup(this.network) } });
    this.maxBytes = options.maxBytes ?? 256 * 1024 ** 3;
    this.minFreeBytes = options.minFreeBytes ?? 512 * 1024 * 1024;
  }

  /** Starts a download in the background; resolves once the request is accepted. */
  async start(source: unknown, name?: unknown): Promise<{ download_id: string; name: string }> {
    const resolved = resolveDownloadSource(source, name, this.options.hfToken ?? process.env.HF_TOKEN);
    const refusal = refusalForUrlHost(new URL(resolved.url), this.network);
    if (refusal) throw new ApiError(403, 'DOWNLOAD_REFUSED', `Refusing to download from ${new URL(resolved.url).host}: ${refusal}`);
    const maxConcurrent = this.options.maxConcurrent ?? 2;
    if (this.active.size >= maxConcurrent) {
      throw new ApiError(429, 'RATE_LIMITED', `At most ${maxConcurrent} downloads run at once on a hive; try again when one ends`, undefined, { 'retry-after': '5' });
    }
    if ([...this.active.values()].some((d) => d.name === resolved.name)) {
      throw new ApiError(409, 'CONFLICT', `A download of '${resolved.name}' is already running`);
    }
    if (await exists(join(this.options.dir, resolved.name))) {
      throw new ApiError(409, 'CONFLICT', `Model '${resolved.name}' already exists`);
    }
    const id = randomUUID();
    const abort = new AbortController();
    const done = this.run(id, String(source), resolved, abort.signal).finally(() => this.active.delete(id));
    this.active.set(id, { name: resolved.name, abort, done });
    return { download_id: id, name: resolved.name };
  }

  /** Aborts running downloads (their `.part` files stay for a later resume). */
  async dispose(): Promise<void> {
    const running = [...this.active.values()];
    for (const d of running) d.abort.abort();
    await Promise.all(running.map((d) => d.done.catch(() => undefined)));
    await this.agent.close().catch(() => undefined);
  }

  private async run(id: string, source: string, resolved: ResolvedSource, signal: AbortSignal): Promise<void> {
    const { dir, hub, hiveId, logger } = this.options;
    const finalPath = join(dir, resolved.name);
    const partPath = join(dir, `.${resolved.name}.part`);
    const maxAttempts = this.options.maxAttempts ?? 5;
    const retryBase = this.options.retryBaseMs ?? 250;
    const interval = this.options.progressIntervalMs ?? 250;
    const metaPath = `${partPath}.json`;
    // A part file resumes only with a validator remembered for the same URL; anything else starts over.
    let validator = await readPartValidator(metaPath, resolved.url);
    if (validator === null) await removePart(partPath);
    let received = (await fileSize(partPath)) ?? 0;
    let total: number | null = null;
    let lastReport = 0;
    const report = (state: DownloadProgress['state'], message: string | null = null, force = false): void => {
      const now = Date.now();
      if (!force && now - lastReport < interval) return;
      lastReport = now;
      hub.publish({
        type: 'download_progress',
        progress: { hive_id: hiveId, download_id: id, source, received_bytes: received, total_bytes: total, state, message },
      });
    };
    report('running', null, true);

    let failures = 0;
    try {
      for (;;) {
        if (signal.aborted) throw new DownloadAttemptError('download aborted', true);
        const before = received;
        try {
          ({ received, total, validator } = await this.attempt(
            resolved,
            partPath,
            received,
            validator,
            signal,
            (r, t) => {
              received = r;
              total = t;
              report('running');
            },
            async (learnt) => {
              // Known before the first byte is written: a drop mid-body can still resume with it.
              validator = learnt;
              await writePartValidator(metaPath, resolved.url, learnt);
            },
          ));
          if (total === null || received === total) break;
          throw new DownloadAttemptError(`connection ended at ${received} of ${total} bytes`, false);
        } catch (error) {
          const attemptError = error instanceof DownloadAttemptError ? error : new DownloadAttemptError(errorMessage(error), signal.aborted || isRefusal(error));
          if (attemptError.fatal) throw attemptError;
          if (attemptError.validator !== undefined) validator = attemptError.validator;
          if (validator === null) await removePart(partPath);
          received = (await fileSize(partPath)) ?? 0;
          failures = received > before ? 1 : failures + 1;
          if (failures >= maxAttempts) throw new DownloadAttemptError(`giving up after ${failures} failed attempts: ${attemptError.message}`, true);
          logger.warn({ download_id: id, received, err: attemptError.message }, 'download interrupted: resuming');
          report('running', `resuming after: ${attemptError.message}`, true);
          await delay(nominalBackoffMs(failures, { backoff_base_ms: retryBase, backoff_max_ms: 5_000 }), signal);
        }
      }
      if (!(await hasGgufMagic(partPath))) throw new DownloadAttemptError('the downloaded file is not a GGUF file', true);
      try {
        await readGgufSummary(partPath);
      } catch (error) {
        throw new DownloadAttemptError(`the downloaded GGUF file does not parse: ${errorMessage(error)}`, true);
      }
      if (await exists(finalPath)) throw new DownloadAttemptError(`model '${resolved.name}' appeared while downloading`, true);
      await rename(partPath, finalPath);
      await unlink(metaPath).catch(() => undefined);
      report('done', null, true);
      logger.info({ download_id: id, name: resolved.name, bytes: received }, 'model downloaded');
      this.options.audit
        .emit({ event_type: 'model_downloaded', actor: `hive:${hiveId}`, hive_id: hiveId, details: { name: resolved.name, bytes: received, source: source.slice(0, 256) } })
        .catch((error: unknown) => logger.warn({ err: error }, 'audit emit failed'));
      this.options.onDownloaded(resolved.name);
    } catch (error) {
      const message = errorMessage(error);
      logger.warn({ download_id: id, err: message }, 'download failed');
      // An aborted download (hive shutting down) keeps its part file for a later resume; a failed one
      // leaves nothing behind.
      if (!signal.aborted) {
        await removePart(partPath);
        await unlink(metaPath).catch(() => undefined);
      }
      report('failed', message, true);
    }
  }

  /** One HTTP request, appending to the part file from `offset`. */
  private async attempt(
    resolved: ResolvedSource,
    partPath: string,
    offset: number,
    validator: string | null,
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
    if (total !== null && total > this.maxBytes) {
      await res.body?.cancel();
      throw new DownloadAttemptError(`the model is ${total} bytes, over this hive's limit of ${this.maxBytes}`, true);
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
          if (received > this.maxBytes) {
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
  private async fetchChecked(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<UndiciResponse> {
    let current = new URL(url);
    let hopHeaders = headers;
    for (let hop = 0; ; hop += 1) {
      const refusal = refusalForUrlHost(current, this.network);
      if (refusal) throw new DownloadAttemptError(`refusing to download from ${current.host}: ${refusal}`, true);
      const res = await undiciFetch(current, { headers: hopHeaders, signal, redirect: 'manual', dispatcher: this.agent });
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
