import { posix } from 'node:path';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { parseSplitGgufName } from '../models/gguf/splitGgufName.js';

/**
 * `hf:` sources and how a quantization tag picks files in a Hugging Face repo (docs/hive.md "Download").
 *
 * - `hf:<user>/<repo>/<path/to/file.gguf>`: that file (a split shard: every shard of its model).
 * - `hf:<user>/<repo>:<TAG>`: the repo's `.gguf` model whose file name ends in the tag (below).
 * - `hf:<user>/<repo>`: the tag `Q4_K_M`, as llama.cpp's `-hf` and node-llama-cpp's `hf:` URIs default.
 *
 * node-llama-cpp and llama.cpp ask Hugging Face's `/v2/<repo>/manifests/<tag>` endpoint, which picks
 * the file on the server. We list the repo (`/api/models/<user>/<repo>`, siblings) and pick here
 * instead, so the rule is ours, documented, testable against a local server, and an ambiguous repo is
 * an error that names the choices rather than a silent pick.
 */
export type HfSource =
  | { kind: 'file'; user: string; repo: string; path: string }
  | { kind: 'tag'; user: string; repo: string; tag: string };

export const DEFAULT_HF_TAG = 'Q4_K_M';

/** A tag is matched against file names only, but it still has to look like one. */
const TAG = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Hugging Face user and repo names. */
const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;

/** Parses the part after `hf:`; 400 for anything malformed. */
export function parseHfSource(source: string): HfSource {
  const body = source.slice(3).replace(/^\/+/, '');
  const bad = (why: string): ApiError =>
    new ApiError(400, 'INVALID_REQUEST', `Invalid hf: URI '${printable(source)}': ${why} (expected hf:<user>/<repo>:<TAG> or hf:<user>/<repo>/<file.gguf>)`);
  const [user = '', repoAndTag = '', ...file] = body.split('/');
  const colon = repoAndTag.indexOf(':');
  const repo = colon < 0 ? repoAndTag : repoAndTag.slice(0, colon);
  if (!REPO_PART.test(user) || !REPO_PART.test(repo) || user.includes('..') || repo.includes('..')) throw bad('bad user or repo name');
  if (colon >= 0) {
    if (file.length > 0) throw bad('a tag and a file path cannot both be given');
    const tag = repoAndTag.slice(colon + 1);
    if (!TAG.test(tag)) throw bad(`the tag '${printable(tag)}' must be letters, digits, '_', '.', '-' (at most 64, e.g. Q4_K_M)`);
    return { kind: 'tag', user, repo, tag };
  }
  if (file.length === 0) return { kind: 'tag', user, repo, tag: DEFAULT_HF_TAG };
  if (!isSafeRepoPath(file.join('/'))) throw bad('bad file path');
  return { kind: 'file', user, repo, path: file.join('/') };
}

/**
 * A path in a repo listing that is safe to turn into a URL and a file name: relative, no empty, `.` or
 * `..` segment, no backslash or control character. A hostile listing's other entries are ignored (the
 * file name written is also validated on its own: it is the path's last segment, never the path).
 */
export function isSafeRepoPath(path: string): boolean {
  if (path.length === 0 || path.length > 1024 || path.startsWith('/')) return false;
  if (path.includes('\\') || [...path].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** One model in a repo: a single file, or every shard of a split one (first shard first). */
export interface RepoModel {
  files: string[];
  /** The tags it answers to (see `tagsOf`). */
  tags: string[];
}

/**
 * The tags a model file answers to: the last `-` or `.` separated word of its name without the split
 * suffix (`Model-7B-Q4_K_M.gguf`, `model.Q4_K_M.gguf`, `x-Q4_K_M-00001-of-00002.gguf` → `Q4_K_M`), and
 * the name of the folder it sits in (`Q8_0/model-00001-of-00002.gguf` → also `Q8_0`). Compared
 * case-insensitively and whole: `Q4_K` does not pick `x-Q4_K_M.gguf`.
 */
function tagsOf(path: string): string[] {
  const file = posix.basename(path);
  const split = parseSplitGgufName(file);
  const stem = split ? split.prefix : file.replace(/\.gguf$/i, '');
  const words = stem.split(/[-.]/);
  const tags = [words[words.length - 1] || stem];
  const folder = posix.basename(posix.dirname(path));
  if (folder !== '.' && folder.toLowerCase() !== tags[0]!.toLowerCase()) tags.push(folder);
  return tags;
}

/**
 * The models of a repo listing: `.gguf` files, split shards grouped (a group whose listing lacks a
 * shard is dropped: it could not be loaded), `mmproj` projector files left out (they are not models
 * of their own), unsafe paths ignored.
 */
export function repoModels(paths: readonly string[]): { models: RepoModel[]; incomplete: string[] } {
  const singles: RepoModel[] = [];
  const groups = new Map<string, { parts: number; files: Map<number, string> }>();
  for (const path of paths) {
    if (!isSafeRepoPath(path) || !path.toLowerCase().endsWith('.gguf')) continue;
    const file = posix.basename(path);
    if (file.toLowerCase().startsWith('mmproj')) continue;
    const split = parseSplitGgufName(file);
    if (!split) {
      singles.push({ files: [path], tags: tagsOf(path) });
      continue;
    }
    const key = `${posix.dirname(path)}/${split.prefix}/${split.parts}`;
    const group = groups.get(key) ?? { parts: split.parts, files: new Map<number, string>() };
    group.files.set(split.part, path);
    groups.set(key, group);
  }
  const models = [...singles];
  const incomplete: string[] = [];
  for (const group of groups.values()) {
    const files = Array.from({ length: group.parts }, (_, i) => group.files.get(i + 1));
    const first = files[0] ?? [...group.files.values()][0]!;
    if (files.some((f) => f === undefined)) incomplete.push(first);
    else models.push({ files: files as string[], tags: tagsOf(first) });
  }
  models.sort((a, b) => a.files[0]!.localeCompare(b.files[0]!));
  return { models, incomplete };
}

/**
 * The one model in the listing whose tag equals `tag` (case-insensitive). 404 MODEL_NOT_FOUND naming
 * the tags there are, 409 CONFLICT naming the files when several match, 502 when the only match is a
 * split model the listing lacks shards of.
 */
export function pickByTag(repoId: string, paths: readonly string[], tag: string): RepoModel {
  const { models, incomplete } = repoModels(paths);
  const wanted = tag.toLowerCase();
  const answers = (tags: string[]): boolean => tags.some((t) => t.toLowerCase() === wanted);
  const matches = models.filter((m) => answers(m.tags));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new ApiError(
      409,
      'CONFLICT',
      `The tag '${tag}' matches ${matches.length} models in ${repoId}: ${matches.map((m) => m.files[0]).join(', ')}; name one as hf:${repoId}/<file>`,
    );
  }
  const broken = incomplete.filter((path) => answers(tagsOf(path)));
  if (broken.length > 0) {
    throw new ApiError(502, 'UPSTREAM_ERROR', `${repoId} lists only some shards of ${broken.join(', ')}: the split model cannot be downloaded whole`);
  }
  const tags = [...new Set(models.flatMap((m) => m.tags))].sort();
  throw new ApiError(
    404,
    'MODEL_NOT_FOUND',
    tags.length === 0 ? `${repoId} has no .gguf model files` : `No .gguf file in ${repoId} matches the tag '${tag}'; available tags: ${tags.join(', ')}`,
  );
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
