import { readFile, unlink, writeFile } from 'node:fs/promises';
import { uptime } from 'node:os';
import { join } from 'node:path';
import { AuditDirLockedError } from '../../src-shared/audit/AuditErrors.js';

/** Folders this process writes (a second writer in the same process is refused without touching disk). */
const lockedDirs = new Set<string>();

/**
 * One writer per audit folder: `<dir>/.writer.lock` holds the writer's PID and when it was taken. A
 * lock whose process is gone, or that was written before this machine last booted, is stale and taken
 * over; a live one refuses with `AuditDirLockedError`.
 */
export class AuditWriterLock {
  private released = false;

  private constructor(
    readonly dir: string,
    private readonly lockPath: string,
  ) {}

  static async acquire(dir: string): Promise<AuditWriterLock> {
    if (lockedDirs.has(dir)) throw new AuditDirLockedError(dir, process.pid);
    const lockPath = join(dir, '.writer.lock');
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(lockPath, `${process.pid}\n${Date.now()}\n`, { flag: 'wx', mode: 0o600 });
        lockedDirs.add(dir);
        return new AuditWriterLock(dir, lockPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const [pidText, writtenText] = (await readFile(lockPath, 'utf8').catch(() => '')).split('\n');
      const owner = Number.parseInt(pidText ?? '', 10);
      const writtenAt = Number.parseInt(writtenText ?? '', 10);
      // Stale when its process is gone, or when it was written before this machine last booted
      // (after a reboot its PID may belong to an unrelated process).
      const beforeBoot = Number.isFinite(writtenAt) && writtenAt < Date.now() - uptime() * 1000 - 5000;
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !beforeBoot && isAlive(owner)) {
        throw new AuditDirLockedError(dir, owner);
      }
      await unlink(lockPath).catch(() => undefined); // stale: its writer is gone
    }
    throw new AuditDirLockedError(dir, -1);
  }

  /** Idempotent; removes the file only while it still names this process. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    lockedDirs.delete(this.dir);
    const owner = Number.parseInt(await readFile(this.lockPath, 'utf8').catch(() => ''), 10);
    if (owner === process.pid) await unlink(this.lockPath).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
