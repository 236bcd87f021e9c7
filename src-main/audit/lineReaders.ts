import { open } from 'node:fs/promises';

export interface FileLine {
  /** The line's text, without its newline. */
  line: string;
  /** Byte offset of its first byte. */
  offset: number;
  /** Byte offset just past its newline (or past its last byte when unterminated). */
  next: number;
  /** False only for a last segment with no newline (a torn write, or one still in progress). */
  terminated: boolean;
}

const NL = 0x0a;
/** A line longer than this is not a record of ours: the reader refuses rather than buffer without end. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** Streams a file's lines from `start`, a chunk at a time (memory: one chunk plus one line). */
export async function* readLinesForward(
  path: string,
  options: { start?: number; chunkSize?: number } = {},
): AsyncGenerator<FileLine> {
  const chunkSize = options.chunkSize ?? 256 * 1024;
  const fh = await open(path, 'r');
  try {
    let pos = options.start ?? 0;
    let carry: Buffer = Buffer.alloc(0);
    let carryStart = pos;
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkSize);
      const { bytesRead } = await fh.read(chunk, 0, chunkSize, pos);
      if (bytesRead === 0) break;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      const dataStart = carryStart;
      pos += bytesRead;
      let lineStart = 0;
      for (let nl = data.indexOf(NL, 0); nl !== -1; nl = data.indexOf(NL, lineStart)) {
        yield { line: data.toString('utf8', lineStart, nl), offset: dataStart + lineStart, next: dataStart + nl + 1, terminated: true };
        lineStart = nl + 1;
      }
      carry = Buffer.from(data.subarray(lineStart));
      carryStart = dataStart + lineStart;
      if (carry.length > MAX_LINE_BYTES) throw new Error(`${path}: line at byte ${carryStart} exceeds ${MAX_LINE_BYTES} bytes`);
    }
    if (carry.length > 0) {
      yield { line: carry.toString('utf8'), offset: carryStart, next: carryStart + carry.length, terminated: false };
    }
  } finally {
    await fh.close();
  }
}

export interface BackwardOptions {
  /** Read the bytes before this offset. Defaults to the file's size. */
  end?: number;
  chunkSize?: number;
  /** Told the size of an unterminated last segment, which is skipped (0 when there is none). */
  onPartialTail?: (bytes: number) => void;
}

/**
 * Streams a file's complete (newline-terminated) lines last to first, reading chunks from the end.
 * Memory: one chunk plus one line, whatever the file's size.
 */
export async function* readLinesBackward(path: string, options: BackwardOptions = {}): AsyncGenerator<FileLine> {
  const chunkSize = options.chunkSize ?? 64 * 1024;
  const fh = await open(path, 'r');
  try {
    let limit = options.end ?? (await fh.stat()).size;
    let pos = limit;
    let buf: Buffer = Buffer.alloc(0); // bytes [pos, pos + buf.length), always covering [pos, limit)
    let aligned = false; // whether the byte at limit - 1 is a newline (or limit is 0)
    const readMore = async (): Promise<boolean> => {
      if (pos === 0) return false;
      const start = Math.max(0, pos - chunkSize);
      const chunk = Buffer.allocUnsafe(pos - start);
      let filled = 0;
      while (filled < chunk.length) {
        const { bytesRead } = await fh.read(chunk, filled, chunk.length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      buf = Buffer.concat([chunk.subarray(0, filled), buf.subarray(0, limit - pos)]);
      pos = start;
      if (limit - pos > MAX_LINE_BYTES + chunkSize) throw new Error(`${path}: line before byte ${limit} exceeds ${MAX_LINE_BYTES} bytes`);
      return true;
    };
    while (!aligned) {
      const rel = limit - pos;
      const idx = rel > 0 ? buf.lastIndexOf(NL, rel - 1) : -1;
      if (idx !== -1) {
        options.onPartialTail?.(limit - (pos + idx + 1));
        limit = pos + idx + 1;
        aligned = true;
      } else if (!(await readMore())) {
        options.onPartialTail?.(limit);
        return;
      }
    }
    while (limit > 0) {
      const rel = limit - pos; // buf[rel - 1] is the newline ending the current line
      const prev = rel >= 2 ? buf.lastIndexOf(NL, rel - 2) : -1;
      if (prev === -1 && pos > 0) {
        await readMore();
        continue;
      }
      const lineStart = prev + 1;
      yield { line: buf.toString('utf8', lineStart, rel - 1), offset: pos + lineStart, next: limit, terminated: true };
      limit = pos + lineStart;
    }
  } finally {
    await fh.close();
  }
}
