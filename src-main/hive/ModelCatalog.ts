import { open, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, isAbsolute, sep } from 'node:path';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import { DEMO_MODEL_FILE } from '../models/ensureTinyModel.js';
import { readGgufExtent } from '../models/gguf/ggufDataExtent.js';

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

/** Reads the GGUF header with node-llama-cpp's parser (metadata only). Throws on a malformed file. */
export async function readGgufSummary(path: string): Promise<GgufSummary> {
  const { readGgufFileInfo, GgufFileType } = await import('node-llama-cpp');
  const info = await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false, sourceType: 'filesystem' });
  const metadata = info.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const general = metadata.general ?? {};
  const architecture = typeof general.architecture === 'string' ? general.architecture : null;
  const fileType = typeof general.file_type === 'number' ? general.file_type : null;
  const typeName = fileType === null ? undefined : (GgufFileType as unknown as Record<number, string | undefined>)[fileType];
  const arch = architecture ? metadata[architecture] : undefined;
  const ctx = arch && typeof arch.context_length === 'number' ? arch.context_length : null;
  return {
    architecture,
    quantization: typeName ? typeName.replace(/^(MOSTLY|ALL)_/, '') : null,
    context_length: ctx,
    general_name: typeof general.name === 'string' ? general.name : null,
  };
}

/** Why a GGUF file in the folder is not (yet) served; null when it is. */
export type PendingReason = 'settling' | 'truncated' | 'unreadable';

interface Inspection {
  key: string;
  info: ModelInfo;
  pending: PendingReason | null;
}

/** A file we cannot size exactly, written less than this long ago, may still be growing: looked at again, not served. */
const DEFAULT_SETTLE_MS = 1_000;

/**
 * The GGUF files in one folder (not its subfolders). Names are validated before any file-system
 * access, and the resolved path is checked to stay inside the folder after symlinks are followed.
 *
 * A file is served only once it is complete: its header parses and its tensor data fits in the file
 * (when a tensor type cannot be sized, the file must also not have been written to for `settleMs`). A half-copied model therefore stays out of the list (and
 * a start on it is refused) until the copy ends; `pending` names those files so a watcher can look again.
 */
export class ModelCatalog {
  private readonly cache = new Map<string, Inspection>();
  private pendingNames = new Map<string, PendingReason>();

  constructor(
    readonly dir: string,
    private readonly hiveId: string,
    private readonly settleMs = DEFAULT_SETTLE_MS,
  ) {}

  /** Files seen by the last `list()` that are not served yet, with the reason. */
  get pending(): ReadonlyMap<string, PendingReason> {
    return this.pendingNames;
  }

  /** Absolute path of a model that exists and is a GGUF file; 400/404 otherwise. */
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

  /** Resolves a model that is complete (see the class comment); 409 CONFLICT while it is still being written. */
  async resolveComplete(name: unknown): Promise<string> {
    const path = await this.resolve(name);
    const inspection = await this.inspect(validateModelName(name), path);
    if (inspection.pending) {
      throw new ApiError(409, 'CONFLICT', `Model '${inspection.info.name}' is not complete yet (${PENDING_TEXT[inspection.pending]}); try again when the copy has finished`);
    }
    return path;
  }

  async describe(name: string): Promise<ModelInfo> {
    return (await this.inspect(name, await this.resolve(name))).info;
  }

  private async inspect(name: string, path: string): Promise<Inspection> {
    const s = await stat(path);
    const key = `${s.size}:${s.mtimeMs}`;
    const cached = this.cache.get(name);
    if (cached && cached.key === key && cached.pending !== 'settling') return cached;
    let summary: GgufSummary = { architecture: null, quantization: null, context_length: null, general_name: null };
    let pending: PendingReason | null = null;
    try {
      const extent = await readGgufExtent(path);
      if (extent.requiredBytes > extent.sizeBytes) pending = 'truncated';
      // An inexact extent (a tensor type we cannot size) cannot prove the copy ended: wait for quiet.
      else if (!extent.exact && Date.now() - s.mtimeMs < this.settleMs) pending = 'settling';
      summary = await readGgufSummary(path);
    } catch {
      pending = 'unreadable';
    }
    const info: ModelInfo = {
      name,
      hive: this.hiveId,
      size_bytes: s.size,
      modified_ms: Math.floor(s.mtimeMs),
      architecture: summary.architecture,
      quantization: summary.quantization,
      context_length: summary.context_length,
      is_demo: name === DEMO_MODEL_FILE || (summary.general_name ?? '').startsWith('rbee tiny'),
    };
    const inspection = { key, info, pending };
    this.cache.set(name, inspection);
    return inspection;
  }

  /** Every complete `.gguf` file in the folder, sorted by name. A missing folder lists as empty. */
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
    for (const entry of entries.sort()) {
      if (!entry.toLowerCase().endsWith('.gguf') || !MODEL_NAME.test(entry)) continue;
      try {
        const inspection = await this.inspect(entry, await this.resolve(entry));
        if (inspection.pending) pending.set(entry, inspection.pending);
        else models.push(inspection.info);
      } catch {
        // not a GGUF file, a dangling link or a folder: not a model
      }
    }
    for (const name of this.cache.keys()) if (!entries.includes(name)) this.cache.delete(name);
    this.pendingNames = pending;
    return models;
  }
}

const PENDING_TEXT: Record<PendingReason, string> = {
  settling: 'it was written to just now',
  truncated: 'its tensor data is shorter than its header says',
  unreadable: 'its GGUF header does not parse',
};
