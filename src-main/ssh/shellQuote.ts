/**
 * POSIX shell quoting for every command this app sends to a remote machine. Each argument becomes
 * one single-quoted word: inside single quotes a POSIX shell expands nothing (`$()`, backticks, `;`,
 * globs, newlines are literal), and the only character that needs care, `'`, is written as `'\''`.
 * NUL cannot be carried by a shell word at all and is refused.
 */
export function shQuote(value: string): string {
  if (value.includes('\0')) throw new TypeError('A shell argument cannot contain NUL');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Joins argv into one command line, every word quoted. */
export function shCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError('Empty command');
  return argv.map(shQuote).join(' ');
}

/**
 * Wraps a POSIX `sh` script so that it runs under `sh` whatever the remote user's login shell is
 * (sshd hands the exec string to the login shell, which may be fish or csh).
 */
export function shScript(script: string): string {
  return `exec /bin/sh -c ${shQuote(script)}`;
}
