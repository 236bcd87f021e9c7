import { posix } from 'node:path';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { parseSplitGgufName, splitGgufPartName, splitGgufPartNames } from '../models/gguf/splitGgufName.js';
import { parseHfSource, pickByTag } from './huggingFaceSource.js';
import { validateModelName } from './ModelCatalog.js';

/** One file of a download: where it comes from and its name in the models folder. */
export interface DownloadFile {
  url: string;
  name: string;
  /** Bytes, when the source said so before the download (a repo listing); else learnt from the response. */
  size: number | null;
}

/** What one download job fetches: one file, or every shard of a split GGUF (first shard first). */
export interface DownloadPlan {
  /** The model's name: the file, or the first shard. */
  name: string;
  files: DownloadFile[];
  headers: Record<string, string>;
}

/** A repo's files as the listing API gives them. */
export type RepoListing = Array<{ path: string; size: number | null }>;

export interface PlanDownloadOptions {
  hfToken?: string;
  /** Defaults to https://huggingface.co. */
  hfEndpoint?: string;
  /** Lists a repo for `hf:<user>/<repo>:<TAG>`; required for that form only. */
  listRepo?: (user: string, repo: string) => Promise<RepoListing>;
}

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

/**
 * What a source downloads (docs/hive.md "Download"):
 * - `hf:<user>/<repo>/<path/in/repo.gguf>` → Hugging Face's resolve URL;
 * - `hf:<user>/<repo>:<TAG>` (or no tag: Q4_K_M) → the repo file(s) the tag picks (huggingFaceSource.ts);
 * - http(s) URLs as they are.
 * A split shard (`-0000i-of-0000N.gguf`, any of them) brings every shard of its model, named
 * `<name or prefix>-0000i-of-0000N.gguf`; the model is named by its first shard. 4xx for bad input.
 */
export async function planDownload(source: unknown, name: unknown, options: PlanDownloadOptions = {}): Promise<DownloadPlan> {
  if (typeof source !== 'string' || source.length === 0 || source.length > 2048) {
    throw new ApiError(400, 'INVALID_REQUEST', 'source must be an hf: URI or an http(s) URL (at most 2048 characters)');
  }
  const headers: Record<string, string> = {};
  if (source.startsWith('hf:')) {
    const endpoint = normalizeEndpoint(options.hfEndpoint ?? DEFAULT_HF_ENDPOINT);
    const hf = parseHfSource(source);
    if (options.hfToken) headers.authorization = `Bearer ${options.hfToken}`;
    const fileUrl = (path: string): string =>
      `${endpoint}/${encodeURIComponent(hf.user)}/${encodeURIComponent(hf.repo)}/resolve/main/${path.split('/').map(encodeURIComponent).join('/')}`;
    if (hf.kind === 'file') return { ...namedFiles(new URL(fileUrl(hf.path)), name), headers };
    if (!options.listRepo) throw new ApiError(400, 'INVALID_REQUEST', 'hf: tags need the repo listing, which this hive cannot reach');
    const listing = await options.listRepo(hf.user, hf.repo);
    const picked = pickByTag(`${hf.user}/${hf.repo}`, listing.map((f) => f.path), hf.tag);
    const sizes = new Map(listing.map((f) => [f.path, f.size]));
    const plan = targetNames(
      picked.files.map((path) => posix.basename(path)),
      name,
    );
    return {
      name: plan[0]!,
      files: picked.files.map((path, i) => ({ url: fileUrl(path), name: plan[i]!, size: sizes.get(path) ?? null })),
      headers,
    };
  }
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', `Invalid source '${source.slice(0, 200)}': expected an hf: URI or an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ApiError(400, 'INVALID_REQUEST', `Unsupported source scheme '${url.protocol}': use hf:, http: or https:`);
  }
  if (url.username || url.password) throw new ApiError(400, 'INVALID_REQUEST', 'Credentials in the source URL are not accepted');
  return { ...namedFiles(url, name), headers };
}

/** The files one URL stands for: itself, or, for a split shard, every shard beside it. */
function namedFiles(url: URL, name: unknown): { name: string; files: DownloadFile[] } {
  let fileName: string;
  try {
    fileName = decodeURIComponent(posix.basename(url.pathname));
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', 'The source URL has a malformed file name');
  }
  const shardNames = splitGgufPartNames(fileName);
  const targets = targetNames(shardNames, name);
  const files = shardNames.map((shard, i) => {
    const shardUrl = new URL(url);
    shardUrl.pathname = `${posix.dirname(url.pathname)}/${encodeURIComponent(shard)}`.replace(/^\/\//, '/');
    return { url: shardUrl.toString(), name: targets[i]!, size: null };
  });
  return { name: targets[0]!, files };
}

/**
 * Names in the models folder for the source's file names: `name` (or the source's own) for one file;
 * for N shards, `<name or prefix>-0000i-of-0000N.gguf`, the names llama.cpp looks for. Each validated.
 */
function targetNames(sourceNames: readonly string[], name: unknown): string[] {
  const wanted = name === undefined || name === null ? undefined : validateModelName(name);
  if (sourceNames.length === 1) return [validateModelName(wanted ?? sourceNames[0])];
  const prefix = wanted === undefined ? parseSplitGgufName(sourceNames[0]!)!.prefix : (parseSplitGgufName(wanted)?.prefix ?? wanted.replace(/\.gguf$/i, ''));
  return sourceNames.map((_, i) => validateModelName(splitGgufPartName(prefix, i + 1, sourceNames.length)));
}

/** The endpoint as a base URL without a trailing slash; 400 unless it is a plain http(s) URL. */
export function normalizeEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', `The Hugging Face endpoint '${endpoint.slice(0, 200)}' is not a URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
    throw new ApiError(400, 'INVALID_REQUEST', `The Hugging Face endpoint '${endpoint.slice(0, 200)}' must be a plain http(s) URL`);
  }
  return url.toString().replace(/\/+$/, '');
}
