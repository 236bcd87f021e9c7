import { readdir } from 'node:fs/promises';

/** `YYYY-MM-DD.audit`, then `YYYY-MM-DD.1.audit`, `.2.audit`… when a day's file reaches its size cap. */
export const AUDIT_FILE_RE = /^(\d{4}-\d{2}-\d{2})(?:\.([1-9]\d{0,5}))?\.audit$/;

export interface AuditFileName {
  name: string;
  /** UTC day of the records it holds. */
  date: string;
  /** 0 for the day's first file, then 1, 2, … */
  seq: number;
}

export function parseAuditFileName(name: string): AuditFileName | null {
  const m = AUDIT_FILE_RE.exec(name);
  if (!m) return null;
  return { name, date: m[1] as string, seq: m[2] === undefined ? 0 : Number(m[2]) };
}

export function auditFileName(date: string, seq: number): string {
  return seq === 0 ? `${date}.audit` : `${date}.${seq}.audit`;
}

/** Chain order: by day, then by sequence number (numerically: `.10` comes after `.9`). */
export function compareAuditFiles(a: AuditFileName, b: AuditFileName): number {
  return a.date < b.date ? -1 : a.date > b.date ? 1 : a.seq - b.seq;
}

/** The folder's audit files in chain order; side files (quarantine, lock) are not among them. */
export async function listAuditFiles(dir: string): Promise<AuditFileName[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: AuditFileName[] = [];
  for (const name of names) {
    const parsed = parseAuditFileName(name);
    if (parsed) files.push(parsed);
  }
  return files.sort(compareAuditFiles);
}

/** The UTC day (`YYYY-MM-DD`) of an ISO-8601 timestamp as the writer produces them. */
export function dayOf(isoTimestamp: string): string {
  return isoTimestamp.slice(0, 10);
}
