import { readFile, stat } from 'node:fs/promises';

/** The sealing key file is too open, empty or unreadable: a clear error, never a silent unkeyed log. */
export class AuditKeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditKeyFileError';
  }
}

/**
 * Reads the audit sealing key: the file's bytes (a trailing newline dropped), at least 16 of them.
 * The file must not be readable by group or others (0400 or 0600), as with an ssh key; it belongs
 * outside the audit folder, or whoever can write the folder can also re-seal a rebuilt chain.
 */
export async function readAuditKeyFile(path: string): Promise<Buffer> {
  const info = await stat(path).catch((error: unknown) => {
    throw new AuditKeyFileError(`audit key file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  });
  if ((info.mode & 0o077) !== 0) {
    throw new AuditKeyFileError(`audit key file ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 400 it`);
  }
  let key = await readFile(path);
  if (key.at(-1) === 0x0a) key = key.subarray(0, key.length - 1);
  if (key.length < 16) throw new AuditKeyFileError(`audit key file ${path} holds ${key.length} bytes; use at least 16 (e.g. head -c 32 /dev/urandom)`);
  return key;
}
