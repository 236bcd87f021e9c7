import { open } from 'node:fs/promises';

/** EINVAL/ENOTSUP from fsync: the file or filesystem cannot sync (not an I/O failure). */
export function isFsyncUnsupported(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EINVAL' || code === 'ENOTSUP';
}

/** fsync a folder so a file created or cut in it survives a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the file's own fsync still holds its data.
  } finally {
    await dh.close();
  }
}

export function errorOf(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
