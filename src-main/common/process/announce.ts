/**
 * Lifecycle messages of a daemon to whoever started it: one JSON line on stdout (readable by any
 * parent, incl. over SSH) and, when forked with an IPC channel, the same object over IPC.
 */
export function announce(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
  if (typeof process.send === 'function' && process.connected) {
    process.send(message, undefined, undefined, () => undefined);
  }
}
