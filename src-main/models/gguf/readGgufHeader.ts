import { open, type FileHandle } from 'node:fs/promises';
import { InvalidGgufError } from './checkGgufHeader.js';

/** A metadata value. Arrays keep only their element type and length: a vocabulary can hold 200k strings nobody here reads. */
export type GgufMetadataValue = number | bigint | boolean | string | { arrayType: number; length: number };

export interface GgufTensorHeader {
  name: string;
  /** Innermost first, as stored. */
  dimensions: number[];
  ggmlType: number;
  /** Absolute file offset of the tensor's data. */
  fileOffset: number;
}

export interface GgufHeader {
  version: number;
  /** Flat keys as stored (`general.architecture`, `split.tensors.count`). */
  metadata: ReadonlyMap<string, GgufMetadataValue>;
  /** Null when not asked for. */
  tensors: GgufTensorHeader[] | null;
  /** Where the tensor data begins (after the tensor infos, aligned); null without tensor infos. */
  dataOffset: number | null;
}

export interface ReadGgufHeaderOptions {
  /** Read the tensor infos too (names, shapes, types, offsets). Defaults to true. */
  tensors?: boolean;
}

const SUPPORTED_VERSIONS = new Set([2, 3]);
/** Far beyond any real model: a larger count or length means the header is garbage. */
const MAX_COUNT = 100_000_000;
const MAX_STRING = 64 * 1024 * 1024;
const MAX_DIMS = 8;
const DEFAULT_ALIGNMENT = 32;
const CHUNK = 1024 * 1024;
/** Bytes of the fixed-size value types (gguf.h `gguf_type`); 8 = string, 9 = array. */
const FIXED_SIZE: Readonly<Record<number, number>> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};

/**
 * Reads a GGUF file's header: metadata and tensor infos, never the tensor data. Dependency-free (the
 * format is GGUF v2/v3, little-endian, gguf.h), so the hive's catalog reads models without loading
 * node-llama-cpp, whose import alone costs a process ~40 MB for good (docs/hive.md "Probe child").
 * Reads in 1 MiB chunks; throws `InvalidGgufError` when the file is not GGUF or holds counts or lengths
 * no real model has, and its subclass `TruncatedGgufError` when it ends inside the header (a copy
 * still in progress).
 */
export async function readGgufHeader(path: string, options: ReadGgufHeaderOptions = {}): Promise<GgufHeader> {
  const handle = await open(path, 'r');
  try {
    const reader = new ChunkReader(handle, path);
    if ((await reader.bytes(4)).toString('latin1') !== 'GGUF')
      throw new InvalidGgufError(`${path} is not a GGUF file (bad magic)`);
    const version = await reader.u32();
    if (!SUPPORTED_VERSIONS.has(version))
      throw new InvalidGgufError(`${path} has unsupported GGUF version ${version}`);
    const tensorCount = await reader.count();
    const kvCount = await reader.count();
    const metadata = new Map<string, GgufMetadataValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = await reader.string();
      metadata.set(key, await reader.value(await reader.u32()));
    }
    if (options.tensors === false) return { version, metadata, tensors: null, dataOffset: null };
    const tensors: GgufTensorHeader[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = await reader.string();
      const dimCount = await reader.u32();
      if (dimCount > MAX_DIMS)
        throw new InvalidGgufError(`${path}: tensor ${name} has ${dimCount} dimensions`);
      const dimensions: number[] = [];
      for (let d = 0; d < dimCount; d++) dimensions.push(Number(await reader.u64()));
      const ggmlType = await reader.u32();
      const offset = Number(await reader.u64());
      tensors.push({ name, dimensions, ggmlType, fileOffset: offset });
    }
    const alignment = metadata.get('general.alignment');
    const align =
      typeof alignment === 'number' && Number.isInteger(alignment) && alignment > 0
        ? alignment
        : DEFAULT_ALIGNMENT;
    const dataOffset = reader.position + ((align - (reader.position % align)) % align);
    for (const tensor of tensors) tensor.fileOffset += dataOffset;
    return { version, metadata, tensors, dataOffset };
  } finally {
    await handle.close();
  }
}

/** The file ends inside its header: most likely a copy still in progress. */
export class TruncatedGgufError extends InvalidGgufError {
  constructor(
    message: string,
    /** The file must be at least this long for the header to be read further. */
    readonly neededBytes: number,
  ) {
    super(message);
  }
}

/** Sequential reads over a file handle, one chunk buffered. */
class ChunkReader {
  private buffer = Buffer.alloc(0);
  /** File offset of `buffer[0]`. */
  private start = 0;
  /** Offset of the next byte to read, relative to `buffer`. */
  private cursor = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
  ) {}

  get position(): number {
    return this.start + this.cursor;
  }

  async bytes(n: number): Promise<Buffer> {
    await this.ensure(n);
    const out = this.buffer.subarray(this.cursor, this.cursor + n);
    this.cursor += n;
    return out;
  }

  async u32(): Promise<number> {
    return (await this.bytes(4)).readUInt32LE(0);
  }

  async u64(): Promise<bigint> {
    return (await this.bytes(8)).readBigUInt64LE(0);
  }

  /** A u64 count, refused when implausible. */
  async count(): Promise<number> {
    const n = await this.u64();
    if (n > BigInt(MAX_COUNT))
      throw new InvalidGgufError(`${this.path} has an implausible GGUF header (a count of ${n})`);
    return Number(n);
  }

  async string(): Promise<string> {
    const length = await this.u64();
    if (length > BigInt(MAX_STRING))
      throw new InvalidGgufError(`${this.path} has an implausible GGUF string length (${length})`);
    return (await this.bytes(Number(length))).toString('utf8');
  }

  async value(type: number): Promise<GgufMetadataValue> {
    if (type === 8) return this.string();
    if (type === 9) {
      const arrayType = await this.u32();
      const length = await this.count();
      if (arrayType === 9) throw new InvalidGgufError(`${this.path}: nested GGUF arrays are not supported`);
      if (arrayType === 8) {
        for (let i = 0; i < length; i++) await this.skip(Number(await this.u64()));
      } else {
        const size = FIXED_SIZE[arrayType];
        if (size === undefined)
          throw new InvalidGgufError(`${this.path}: unknown GGUF value type ${arrayType}`);
        await this.skip(size * length);
      }
      return { arrayType, length };
    }
    const size = FIXED_SIZE[type];
    if (size === undefined) throw new InvalidGgufError(`${this.path}: unknown GGUF value type ${type}`);
    const b = await this.bytes(size);
    switch (type) {
      case 0:
        return b.readUInt8(0);
      case 1:
        return b.readInt8(0);
      case 2:
        return b.readUInt16LE(0);
      case 3:
        return b.readInt16LE(0);
      case 4:
        return b.readUInt32LE(0);
      case 5:
        return b.readInt32LE(0);
      case 6:
        return b.readFloatLE(0);
      case 7:
        return b.readUInt8(0) !== 0;
      case 10:
        return safeNumber(b.readBigUInt64LE(0));
      case 11:
        return safeNumber(b.readBigInt64LE(0));
      default:
        return b.readDoubleLE(0);
    }
  }

  /** Moves past `n` bytes without keeping them (long string arrays). */
  private async skip(n: number): Promise<void> {
    if (n > MAX_STRING * 16) throw new InvalidGgufError(`${this.path} has an implausible GGUF array`);
    const inBuffer = this.buffer.length - this.cursor;
    if (n <= inBuffer) {
      this.cursor += n;
      return;
    }
    this.start += this.buffer.length + (n - inBuffer);
    this.buffer = Buffer.alloc(0);
    this.cursor = 0;
  }

  /** Makes `n` bytes available at the cursor, reading on from the file. */
  private async ensure(n: number): Promise<void> {
    if (this.buffer.length - this.cursor >= n) return;
    const keep = this.buffer.subarray(this.cursor);
    const want = Math.max(CHUNK, n - keep.length);
    const fresh = Buffer.alloc(want);
    const { bytesRead } = await this.handle.read(fresh, 0, want, this.start + this.buffer.length);
    this.start += this.cursor;
    this.buffer = Buffer.concat([keep, fresh.subarray(0, bytesRead)]);
    this.cursor = 0;
    if (this.buffer.length < n) {
      throw new TruncatedGgufError(
        `${this.path} ends inside its GGUF header (at byte ${this.start + this.buffer.length})`,
        this.start + n,
      );
    }
  }
}

function safeNumber(n: bigint): number | bigint {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n;
}
