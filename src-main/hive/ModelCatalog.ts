import { open, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, isAbsolute, sep } from 'node:path';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import { DEMO_MODEL_FILE } from '../models/ensureTinyModel.js';
import { readGgufExtent, type GgufExtent } from '../models/gguf/ggufDataExtent.js';
import { ggufFileTypeName } from '../models/gguf/ggufFileType.js';
import { readGgufHeader } from '../models/gguf/readGgufHeader.js';
import { parseSplitGgufName, splitGgufPartName, splitGgufPartNames } from '../models/gguf/splitGgufName.js';

/** Model names are plain file names in the models folder: no folders, no hidden files, `.gguf` only. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;
const GGUF_MAGIC = Buffer.from('GGUF', 'ascii');

/** Throws a 400 naming what is wrong with `name`; returns it unchanged when it is a safe model name. */
export function validateModelName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new ApiError(400, 'INVALID_REQUEST', 'model must be a non-empty string');
  if (name.includes('/') || name.includes('\\') || name.includes('\0') || name.split(/[/\\]/).includes('..') || name.startsWith('.')) {
    throw new ApiError(400, 'INVALID_REQUEST', `Invalid model name '${printable(name)}': a model is a file name in the models folder, not a path`);
  }
  if (!MODEL_NAME.test(name)) {
    throw new ApiError(400, 'INVALID_REQUEST', `Invalid model name '${printable(name)}': use letters, digits, '.', '_', '+', '-' (at most 200 characters)`);
  }
  if (!name.toLowerCase().endsWith('.gguf')) {
    throw new ApiError(400, 'INVALID_REQUEST', `Invalid model name '${printable(name)}': only .gguf files are served`);
  }
  return name;
}

function printable(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}

/** True when the file starts with the GGUF magic. */
export async function hasGgufMagic(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buffer, 0, 4, 0);
    return bytesRead === 4 && buffer.equals(GGUF_MAGIC);
  } finally {
    await handle.close();
  }
}

export interface GgufSummary {
  architecture: string | null;
  quantization: string | null;
  context_length: number | null;
  general_name: string | null;
}

/** Reads the GGUF header (metadata only, `readGgufHeader`: no node-llama-cpp in the hive). Throws on a malformed file. */
export async function readGgufSummary(path: string): Promise<GgufSummary> {
  const { metadata } = await readGgufHeader(path, { tensors: false });
  const text = (key: string): string | null => {
    const value = metadata.get(key);
    return typeof value === 'string' ? value : null;
  };
  const architecture = text('general.architecture');
  const fileType = metadata.get('general.file_type');
  const typeName = typeof fileType === 'number' ? ggufFileTypeName(fileType) : null;
  const ctx = architecture ? metadata.get(`${architecture}.context_length`) : undefined;
  return {
    architecture,
    quantization: typeName,
    context_length: typeof ctx === 'number' ? ctx : null,
    general_name: text('general.name'),
  };
}

/** Why a GGUF model in the folder is not (yet) served; null when it is. */
export type PendingReason = 'settling' | 'truncated' | 'unreadable' | 'missing_parts' | 'bad_split';

/** What one file's header says, cached by size + mtime. */
interface FileInspection {
  key: string;
  sizeBytes: number;
  mtimeMs: number;
  pending: 'settling' | 'truncated' | 'unreadable' | null;
  tensorCount: number;
  split: GgufExtent['split'];
  /** Read for a single file or a first shard only (other shards hold no model metadata). */
  summary: GgufSummary;
}

interface Inspection {
  info: ModelInfo;
  pending: PendingReason | null;
  /** Shard files of a split model that are not in the folder. */
  missing: string[];
}

const NO_SUMMARY: GgufSummary = { architecture: null, quantization: null, context_length: null, general_name: null };

/** A file we cannot size exactly, written less than this long ago, may still be growing: looked at again, not served. */
const DEFAULT_SETTLE_MS = 1_000;

/**
 * The GGUF models in one folder (not its subfolders). Names are validated before any file-system
 * access, and the resolved path is checked to stay inside the folder after symlinks are followed.
 *
 * A model is served only once it is complete: its header parses and its tensor data fits in the file
 * (when a tensor type cannot be sized, the file must also not have been written to for `settleMs`). A half-copied model therefore stays out of the list (and
 * a start on it is refused) until the copy ends; `pending` names those models so a watcher can look again.
 *
 * A split GGUF (`<prefix>-00001-of-0000N.gguf` … `-0000N-of-0000N.gguf`, llama.cpp's gguf-split) is ONE
 * model named by its first shard's file name: that is the path llama.cpp loads (it finds the other
 * shards by name), and it cannot collide with an unsplit file of the same prefix. It is served only
 * when every shard is present and complete and their `split.*` keys agree with their names; its size
 * is the sum of the shards. The other shards are never models of their own.
 */
export class ModelCatalog {
  private readonly cache = new Map<string, FileInspection>();
  private pendingNames = new Map<string, PendingReason>();

  constructor(
    readonly dir: string,
    private readonly hiveId: string,
    private readonly settleMs = DEFAULT_SETTLE_MS,
  ) {}

  /** Models seen by the last `list()` that are not served yet, with the reason. */
  get pending(): ReadonlyMap<string, PendingReason> {
    return this.pendingNames;
  }

  /** Absolute path of a file that exists in the folder and is a GGUF file; 400/404 otherwise. */
  async resolve(name: unknown): Promise<string> {
    const valid = validateModelName(name);
    const candidate = join(this.dir, valid);
    let real: string;
    try {
      real = await realpath(candidate);
    } catch {
      throw new ApiError(404, 'MODEL_NOT_FOUND', `Model '${valid}' is not in the models folder`);
    }
    const root = await realpath(this.dir);
    const rel = relative(root, real);
    if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
      throw new ApiError(400, 'INVALID_REQUEST', `Model '${valid}' resolves outside the models folder`);
    }
    const s = await stat(real);
    if (!s.isFile()) throw new ApiError(400, 'INVALID_REQUEST', `Model '${valid}' is not a regular file`);
    if (!(await hasGgufMagic(real))) throw new ApiError(400, 'INVALID_REQUEST', `Model '${valid}' is not a GGUF file (bad magic)`);
    return real;
  }

  /**
   * Resolves a model that is complete (see the class comment): the path to load (a split model's first
   * shard). 409 CONFLICT while it is still being written or shards are missing; 400 for a shard other
   * than the first.
   */
  async resolveComplete(name: unknown): Promise<string> {
    const valid = validateModelName(name);
    const split = parseSplitGgufName(valid);
    if (split && split.part !== 1) {
      throw new ApiError(400, 'INVALID_REQUEST', `'${valid}' is shard ${split.part} of ${split.parts} of the split model '${splitGgufPartName(split.prefix, 1, split.parts)}': name the model by its first shard`);
    }
    const path = await this.resolve(valid);
    const inspection = await this.inspect(valid);
    if (inspection.pending) {
      throw new ApiError(409, 'CONFLICT', `Model '${valid}' is not complete yet (${pendingText(inspection)}); try again when the copy has finished`);
    }
    return path;
  }

  async describe(name: string): Promise<ModelInfo> {
    return (await this.inspect(validateModelName(name))).info;
  }

  /** One file's header facts, cached by size + mtime (a file still settling is looked at again). */
  private async inspectFile(name: string, path: string, withSummary: boolean): Promise<FileInspection> {
    const s = await stat(path);
    const key = `${s.size}:${s.mtimeMs}`;
    const cached = this.cache.get(name);
    if (cached && cached.key === key && cached.pending !== 'settling') return cached;
    let summary = NO_SUMMARY;
    let pending: FileInspection['pending'] = null;
    let tensorCount = 0;
    let split: GgufExtent['split'] = null;
    try {
      const extent = await readGgufExtent(path);
      tensorCount = extent.tensorCount;
      split = extent.split;
      if (extent.requiredBytes > extent.sizeBytes) pending = 'truncated';
      // An inexact extent (a tensor type we cannot size) cannot prove the copy ended: wait for quiet.
      else if (!extent.exact && Date.now() - s.mtimeMs < this.settleMs) pending = 'settling';
      // A truncated file may end inside its metadata: it is not listed until complete anyway.
      if (withSummary && pending !== 'truncated') summary = await readGgufSummary(path);
    } catch {
      pending = 'unreadable';
    }
    const inspection: FileInspection = { key, sizeBytes: s.size, mtimeMs: s.mtimeMs, pending, tensorCount, split, summary };
    this.cache.set(name, inspection);
    return inspection;
  }

  /** A model: one file, or every shard of a split model (`name` is then the first shard). */
  private async inspect(name: string): Promise<Inspection> {
    const names = splitGgufPartNames(name);
    const files: FileInspection[] = [];
    const missing: string[] = [];
    for (const [i, part] of names.entries()) {
      let path: string;
      try {
        path = await this.resolve(part);
      } catch (error) {
        if (i === 0) throw error;
        missing.push(part);
        continue;
      }
      files.push(await this.inspectFile(part, path, i === 0));
    }
    const first = files[0]!;
    let pending: PendingReason | null = files.find((f) => f.pending)?.pending ?? (missing.length > 0 ? 'missing_parts' : null);
    if (!pending && !splitKeysAgree(files)) pending = 'bad_split';
    const summary = first.summary;
    const info: ModelInfo = {
      name,
      hive: this.hiveId,
      size_bytes: files.reduce((sum, f) => sum + f.sizeBytes, 0),
      modified_ms: Math.floor(Math.max(...files.map((f) => f.mtimeMs))),
      architecture: summary.architecture,
      quantization: summary.quantization,
      context_length: summary.context_length,
      is_demo: name === DEMO_MODEL_FILE || (summary.general_name ?? '').startsWith('rbee tiny'),
      ...(names.length > 1 ? { parts: names.length } : {}),
    };
    return { info, pending, missing };
  }

  /** Every complete model in the folder, sorted by name. A missing folder lists as empty. */
  async list(): Promise<ModelInfo[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch {
      this.pendingNames = new Map();
      return [];
    }
    const models: ModelInfo[] = [];
    const pending = new Map<string, PendingReason>();
    const present = new Set(entries);
    for (const entry of entries.sort()) {
      if (!entry.toLowerCase().endsWith('.gguf') || !MODEL_NAME.test(entry)) continue;
      const split = parseSplitGgufName(entry);
      if (split && split.part !== 1) {
        // A later shard is part of its first shard's model; without the first one, that model is incomplete.
        const firstName = splitGgufPartName(split.prefix, 1, split.parts);
        if (!present.has(firstName)) pending.set(firstName, 'missing_parts');
        continue;
      }
      try {
        const inspection = await this.inspect(entry);
        if (inspection.pending) pending.set(entry, inspection.pending);
        else models.push(inspection.info);
      } catch {
        // not a GGUF file, a dangling link or a folder: not a model
      }
    }
    for (const name of this.cache.keys()) if (!present.has(name)) this.cache.delete(name);
    this.pendingNames = pending;
    return models;
  }
}

/**
 * llama.cpp refuses shards whose `split.no` / `split.count` disagree with their place, or whose tensors
 * do not add up to `split.tensors.count`; a single file must not be one shard of a larger model.
 */
function splitKeysAgree(files: readonly FileInspection[]): boolean {
  if (files.length === 1) {
    const split = files[0]!.split;
    return split === null || split.count <= 1;
  }
  const total = files.reduce((sum, f) => sum + f.tensorCount, 0);
  return files.every((f, i) => f.split !== null && f.split.no === i && f.split.count === files.length && (f.split.tensorsCount === null || f.split.tensorsCount === total));
}

function pendingText(inspection: Inspection): string {
  if (inspection.pending === 'missing_parts') return `${PENDING_TEXT.missing_parts}: ${inspection.missing.join(', ')}`;
  return inspection.pending ? PENDING_TEXT[inspection.pending] : 'complete';
}

const PENDING_TEXT: Record<PendingReason, string> = {
  settling: 'it was written to just now',
  truncated: 'its tensor data is shorter than its header says',
  unreadable: 'its GGUF header does not parse',
  missing_parts: 'shards of this split model are missing',
  bad_split: "its shards' split.no / split.count / split.tensors.count keys do not match their file names",
};
