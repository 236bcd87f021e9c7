import type { WorkerLogLine } from '../../src-shared/control/workerLogs.js';

/** Lines the panel keeps (the hive's ring holds 5 000; the panel shows the recent part). */
export const PANEL_MAX_LINES = 2_000;

/**
 * Appends lines in `seq` order, dropping any the list already has (a reconnect's tail overlaps what
 * was shown) and keeping the newest `max`. Pure.
 */
export function appendLogLines(lines: readonly WorkerLogLine[], incoming: readonly WorkerLogLine[], max = PANEL_MAX_LINES): WorkerLogLine[] {
  if (incoming.length === 0) return lines as WorkerLogLine[];
  let last = lines.length > 0 ? lines[lines.length - 1]!.seq : -1;
  const next = [...lines];
  for (const line of incoming) {
    if (line.seq <= last) continue;
    next.push(line);
    last = line.seq;
  }
  return next.length > max ? next.slice(next.length - max) : next;
}

/** Case-insensitive substring search; an empty query matches everything. Pure. */
export function filterLogLines(lines: readonly WorkerLogLine[], query: string): WorkerLogLine[] {
  const q = query.trim().toLowerCase();
  if (!q) return lines as WorkerLogLine[];
  return lines.filter((l) => l.text.toLowerCase().includes(q));
}

/** What Copy puts on the clipboard: one line per entry, as in the hive's log file. */
export function formatLogLines(lines: readonly WorkerLogLine[]): string {
  return lines.map((l) => `${new Date(l.at).toISOString()} ${l.stream} ${l.text}`).join('\n');
}
