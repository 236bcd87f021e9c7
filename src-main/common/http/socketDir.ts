import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';

/**
 * The folder of a hive's Unix sockets (its own and its workers'). Only its owner may enter it
 * (0700), so no other user of the machine can connect to, or squat, a socket in it: unlike a TCP
 * port, which anyone on the machine could bind first.
 */

/** sun_path holds 108 bytes on Linux (104 on macOS), the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 103;

export function hiveSocketPath(dir: string): string {
  return checkedSocketPath(join(dir, 'hive.sock'));
}

/** `w-<id>.sock`; a long id that would overflow sun_path is named by a hash of it instead. */
export function workerSocketPath(dir: string, workerId: string): string {
  const named = join(dir, `w-${workerId}.sock`);
  if (Buffer.byteLength(named) <= MAX_SOCKET_PATH_BYTES) return named;
  return checkedSocketPath(join(dir, `w-${createHash('sha256').update(workerId).digest('hex').slice(0, 16)}.sock`));
}

function checkedSocketPath(path: string): string {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES)
    throw new Error(`The socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (a Unix socket limit): choose a shorter data dir.`);
  return path;
}

/**
 * Creates the folder (0700) or checks the one there: a real directory of ours, tightened to 0700.
 * A symlink or someone else's folder is refused (it would let them see or replace the sockets).
 */
export async function prepareSocketDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (!st.isDirectory()) throw new Error(`${dir} must be a directory for the hive's sockets, not a link or a file.`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid())
    throw new Error(`${dir} belongs to uid ${st.uid}, not to this user: refusing to put the hive's sockets there.`);
  if ((st.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
}

/**
 * Removes a socket file left by a process that died without closing it (listen would fail
 * EADDRINUSE). A socket somebody still listens on is left alone: that is an error, not litter.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket: refusing to replace it.`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`Another process is listening on ${path}.`);
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
