import { open } from 'node:fs/promises';

/** Raised for a file that is not a GGUF model we can load; the message says why. */
export class InvalidGgufError extends Error {
  override readonly name = 'InvalidGgufError';
}

const SUPPORTED_VERSIONS = new Set([2, 3]);
/** Far beyond any real model; a larger count means the header is garbage. */
const MAX_PLAUSIBLE_COUNT = 1_000_000n;

/**
 * Cheap sanity check of a GGUF header before node-llama-cpp reads the file: its reader accepts
 * garbage versions with a warning and can then spin on a bogus header (measured here: a 24-byte file
 * starting "GGUF" hung the loader), so a worker would never report the failure.
 */
export async function checkGgufHeader(path: string): Promise<{ version: number; tensorCount: number; kvCount: number }> {
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(24);
    const { bytesRead } = await handle.read(header, 0, 24, 0);
    if (bytesRead < 24) throw new InvalidGgufError(`${path} is too short to be a GGUF model (${bytesRead} bytes)`);
    if (header.toString('latin1', 0, 4) !== 'GGUF') throw new InvalidGgufError(`${path} is not a GGUF file (bad magic)`);
    const version = header.readUInt32LE(4);
    if (!SUPPORTED_VERSIONS.has(version)) throw new InvalidGgufError(`${path} has unsupported GGUF version ${version}`);
    const tensorCount = header.readBigUInt64LE(8);
    const kvCount = header.readBigUInt64LE(16);
    if (tensorCount > MAX_PLAUSIBLE_COUNT || kvCount > MAX_PLAUSIBLE_COUNT) {
      throw new InvalidGgufError(`${path} has an implausible GGUF header (${tensorCount} tensors, ${kvCount} keys)`);
    }
    return { version, tensorCount: Number(tensorCount), kvCount: Number(kvCount) };
  } finally {
    await handle.close();
  }
}
