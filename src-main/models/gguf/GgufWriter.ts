/**
 * A dependency-free GGUF v3 writer: enough of the format to produce real, loadable llama models.
 * Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (little-endian throughout).
 */

/** GGUF metadata value types (gguf.md "gguf_metadata_value_type"). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** ggml tensor types we write: F32 (tiny models), F16 (sparse headers of big ones). */
export const GgmlType = { F32: 0, F16: 1 } as const;

export type GgufScalar =
  | { type: 'u16'; value: number }
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string };

export type GgufValue =
  | GgufScalar
  | { type: 'array'; itemType: 'string'; value: readonly string[] }
  | { type: 'array'; itemType: 'f32'; value: readonly number[] }
  | { type: 'array'; itemType: 'i32'; value: readonly number[] };

export interface GgufTensor {
  name: string;
  /** Innermost dimension first, as GGUF stores them (token_embd is `[n_embd, n_vocab]`). */
  dims: readonly number[];
  data: Float32Array;
}

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const GGUF_VERSION = 3;

/** Growable little-endian byte sink. */
class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;

  push(buf: Buffer): void {
    this.chunks.push(buf);
    this.length += buf.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad > 0) this.push(Buffer.alloc(pad));
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

function writeValue(sink: ByteSink, value: GgufValue): void {
  switch (value.type) {
    case 'u16': {
      sink.u32(GgufValueType.UINT16);
      const b = Buffer.alloc(2);
      b.writeUInt16LE(value.value);
      sink.push(b);
      return;
    }
    case 'u32':
      sink.u32(GgufValueType.UINT32);
      sink.u32(value.value);
      return;
    case 'i32':
      sink.u32(GgufValueType.INT32);
      sink.i32(value.value);
      return;
    case 'f32':
      sink.u32(GgufValueType.FLOAT32);
      sink.f32(value.value);
      return;
    case 'bool':
      sink.u32(GgufValueType.BOOL);
      sink.push(Buffer.from([value.value ? 1 : 0]));
      return;
    case 'string':
      sink.u32(GgufValueType.STRING);
      sink.string(value.value);
      return;
    case 'array':
      sink.u32(GgufValueType.ARRAY);
      if (value.itemType === 'string') {
        sink.u32(GgufValueType.STRING);
        sink.u64(value.value.length);
        for (const s of value.value) sink.string(s);
      } else if (value.itemType === 'f32') {
        sink.u32(GgufValueType.FLOAT32);
        sink.u64(value.value.length);
        for (const n of value.value) sink.f32(n);
      } else {
        sink.u32(GgufValueType.INT32);
        sink.u64(value.value.length);
        for (const n of value.value) sink.i32(n);
      }
      return;
  }
}

/** A tensor's entry in the header: shape, ggml type and size of its data. */
export interface GgufTensorInfo {
  name: string;
  /** Innermost dimension first. */
  dims: readonly number[];
  /** ggml type id (0 F32, 1 F16, …). */
  type: number;
  byteLength: number;
}

/**
 * The header of a GGUF v3 file (metadata, tensor infos, padding to the data section) and the size of
 * the data section that must follow. `encodeGguf` appends real data; a sparse file can leave it a
 * hole (a model of any size with the right shapes, for memory estimates).
 */
export function encodeGgufHeader(
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensorInfo[],
  alignment = 32,
): { header: Buffer; dataBytes: number } {
  const head = new ByteSink();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(metadata.length);
  for (const [key, value] of metadata) {
    head.string(key);
    writeValue(head, value);
  }
  let offset = 0;
  for (const tensor of tensors) {
    head.string(tensor.name);
    head.u32(tensor.dims.length);
    for (const d of tensor.dims) head.u64(d);
    head.u32(tensor.type);
    head.u64(offset);
    offset += tensor.byteLength;
    offset += (alignment - (offset % alignment)) % alignment;
  }
  head.padTo(alignment);
  return { header: head.toBuffer(), dataBytes: offset };
}

/** Serialises metadata and F32 tensors into one GGUF v3 file image. */
export function encodeGguf(
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensor[],
  alignment = 32,
): Buffer {
  for (const tensor of tensors) {
    const elements = tensor.dims.reduce((a, b) => a * b, 1);
    if (elements !== tensor.data.length) {
      throw new Error(`tensor ${tensor.name}: dims ${tensor.dims.join('x')} != ${tensor.data.length} values`);
    }
  }
  const infos = tensors.map((t) => ({ name: t.name, dims: t.dims, type: GgmlType.F32, byteLength: t.data.byteLength }));
  const { header } = encodeGgufHeader(metadata, infos, alignment);
  const out = new ByteSink();
  out.push(header);
  for (const tensor of tensors) {
    out.push(Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
    out.padTo(alignment);
  }
  return out.toBuffer();
}
