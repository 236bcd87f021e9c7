import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * What the queen remembers about each remote hive it added (`<data>/ssh/remote-hives.json`, mode 0600:
 * it holds the hive tokens). Kept apart from SshHiveManager so that a queen can tell whether it has
 * remote hives without loading ssh2 (`sshRemoteHives`).
 */
export interface RemoteHiveRecord {
  id: string;
  host: string;
  port: number;
  user: string;
  key_file: string | null;
  token: string;
  /** Files written before remote hives moved to Unix sockets have it; it is read and ignored. */
  remote_port?: number;
  data_dir: string | null;
  added_at: string;
}

export function remoteHiveRecordsFile(dataDir: string): string {
  return join(dataDir, 'ssh', 'remote-hives.json');
}

export function readRemoteHiveRecords(file: string): RemoteHiveRecord[] {
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')) as RemoteHiveRecord[];
}

/** Temp file + rename: a crash leaves the old list or the new one, never half of one. */
export function writeRemoteHiveRecords(file: string, records: RemoteHiveRecord[]): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(records, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  chmodSync(file, 0o600);
}
