import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { listAuditFiles } from '../../src-main/audit/auditFiles.js';

export async function makeTempDir(prefix = 'rbee-audit-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every record of the folder in chain order, with where it sits (the test's own simple reader). */
export async function readAllRecords(dir: string): Promise<{ file: string; line: number; record: AuditRecord }[]> {
  const out: { file: string; line: number; record: AuditRecord }[] = [];
  for (const f of await listAuditFiles(dir)) {
    const text = await readFile(join(dir, f.name), 'utf8');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    lines.forEach((l, i) => out.push({ file: f.name, line: i + 1, record: JSON.parse(l) as AuditRecord }));
  }
  return out;
}

export async function sideFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.includes('.torn-'));
}

export function workerEvent(n: number): AuditEvent {
  return { event_type: 'worker_spawned', actor: 'hive:local', worker_id: `w-${n}`, details: { n } };
}
