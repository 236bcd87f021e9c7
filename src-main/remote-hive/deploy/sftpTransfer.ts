import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { SshError } from '../../ssh/errors.js';
import { shQuote, shScript } from '../../ssh/shellQuote.js';
import type { SshConnection } from '../../ssh/SshConnection.js';

/** Streams `tar -cz` of `dirs` (relative to `root/node_modules`) into one remote file. */
export async function uploadTar(
  sftp: SFTPWrapper,
  root: string,
  dirs: string[],
  remotePath: string,
  signal?: AbortSignal,
): Promise<void> {
  // GNU tar exits 1 with "file changed as we read it" when a file's status changes while it is read:
  // new contents, or only a new hard link to it (a packager or backup tool linking node_modules). The
  // archive is not trusted then; packing again is, and a file that really keeps changing fails again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await uploadTarOnce(sftp, root, dirs, remotePath, signal);
    } catch (error) {
      if (!(error instanceof TarFileChangedError) || attempt >= TAR_ATTEMPTS) throw error;
    }
  }
}

const TAR_ATTEMPTS = 3;

class TarFileChangedError extends SshError {}

function uploadTarOnce(
  sftp: SFTPWrapper,
  root: string,
  dirs: string[],
  remotePath: string,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-czf', '-', '-C', join(root, 'node_modules'), '--', ...dirs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
    });
    let stderr = '';
    tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const out = sftp.createWriteStream(remotePath, { mode: 0o600 });
    let tarDone = false;
    let writeDone = false;
    const finish = (): void => {
      if (tarDone && writeDone) resolve();
    };
    tar.on('error', reject);
    tar.on('close', (code) => {
      if (code === 1 && /file changed as we read it/.test(stderr)) return reject(new TarFileChangedError('REMOTE_COMMAND_FAILED', `tar failed (${code}): ${stderr}`));
      if (code !== 0) return reject(new SshError('REMOTE_COMMAND_FAILED', `tar failed (${code}): ${stderr}`));
      tarDone = true;
      finish();
    });
    out.on('error', reject);
    out.on('close', () => {
      writeDone = true;
      finish();
    });
    tar.stdout.pipe(out);
  });
}

/** SFTP `fastPut` with the disk-full mapping below. */
export function putFile(sftp: SFTPWrapper, local: string, remote: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) =>
    sftp.fastPut(local, remote, { mode }, (error) =>
      error ? reject(mapSftpError(error, remote)) : resolve(),
    ),
  );
}

/** Atomic replace (OpenSSH's posix-rename extension): a half-written file never takes the name. */
export function renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) =>
    sftp.ext_openssh_rename(from, to, (error) => (error ? reject(mapSftpError(error, to)) : resolve())),
  );
}

export function writeRemoteFile(
  sftp: SFTPWrapper,
  path: string,
  content: string | Buffer,
  mode: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = sftp.createWriteStream(path, { mode });
    stream.on('error', (error: Error) => reject(mapSftpError(error, path)));
    stream.on('close', () => resolve());
    stream.end(content);
  });
}

function mapSftpError(error: Error, path: string): Error {
  if (/no space|quota/i.test(error.message)) {
    return new SshError(
      'DISK_FULL',
      `Writing ${path} on the remote failed (${error.message}): the remote disk is full. Free some space and deploy again (finished files are kept).`,
      { cause: error },
    );
  }
  return new SshError('REMOTE_COMMAND_FAILED', `SFTP write of ${path} failed: ${error.message}`, {
    cause: error,
  });
}

/**
 * OpenSSH's sftp-server answers ENOSPC with a bare SSH_FX_FAILURE ("Failure"), so a failed write is
 * checked against the free space (`df`) of the target's file system to tell "disk full" apart.
 */
export async function diagnoseWriteFailure(
  connection: SshConnection,
  dir: string,
  error: unknown,
  bytesLeft: number,
): Promise<unknown> {
  if (error instanceof SshError && error.code !== 'REMOTE_COMMAND_FAILED') return error;
  try {
    const df = await connection.exec(shScript(`df -Pk ${shQuote(dir)} | tail -n 1`), { timeoutMs: 15_000 });
    const availKb = Number(df.stdout.trim().split(/\s+/)[3]);
    if (Number.isFinite(availKb) && availKb * 1024 < Math.max(bytesLeft, 64 * 1024)) {
      const message = error instanceof Error ? error.message : String(error);
      return new SshError(
        'DISK_FULL',
        `The remote disk is full: ${availKb} KiB free in ${dir}'s file system, ${Math.ceil(bytesLeft / 1024)} KiB still to upload (${message}). Free some space and deploy again (finished files are kept).`,
        { cause: error },
      );
    }
  } catch {
    // keep the original error
  }
  return error;
}

/** A failed remote command's stderr as a typed error: disk full and a missing node told apart. */
export function remoteFailure(what: string, stderr: string): SshError {
  if (/No space left on device|Disk quota exceeded/i.test(stderr)) {
    return new SshError(
      'DISK_FULL',
      `The remote disk is full while ${what}: ${stderr.trim().slice(-300)}. Free some space and deploy again.`,
    );
  }
  if (/node: (command )?not found|No such file or directory.*node/i.test(stderr)) {
    return new SshError(
      'NODE_MISSING',
      `Node.js is missing on the remote while ${what}. Install Node 20 or newer.`,
    );
  }
  return new SshError('REMOTE_COMMAND_FAILED', `Failed ${what} on the remote: ${stderr.trim().slice(-500)}`);
}
