import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';

/** A throw-away local account: a realistic "second machine" behind the test sshd (own home, own npm cache). */
export interface LocalUser {
  name: string;
  uid: number;
  home: string;
  /** Pids of every process running as this user (from /proc). */
  pids(): number[];
  /** SIGKILLs the user's processes by pid, then deletes the account and its home. */
  remove(): void;
}

export function createLocalUser(): LocalUser {
  if (process.getuid?.() !== 0) throw new Error('Creating a test user needs root.');
  const name = `rbee-t${randomBytes(3).toString('hex')}`;
  const home = `/home/${name}`;
  execFileSync('useradd', ['--create-home', '--home-dir', home, '--shell', '/bin/sh', name]);
  // A locked password ('!') makes sshd refuse key logins as "account locked"; '*' disables passwords only.
  execFileSync('usermod', ['-p', '*', name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const pids = (): number[] =>
    readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((entry) => {
        try {
          return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]) === uid;
        } catch {
          return false; // exited meanwhile
        }
      })
      .map(Number);
  return {
    name,
    uid,
    home,
    pids,
    remove() {
      for (const pid of pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      execFileSync('userdel', ['--remove', name], { stdio: 'ignore' });
    },
  };
}
