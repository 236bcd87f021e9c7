import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditQuery, MergedAuditPage } from '../../src-shared/audit/AuditEvent.js';
import { queryAuditSources } from '../../src-shared/audit/mergeAuditPages.js';
import { AUDIT_FILE_RE } from './auditFiles.js';
import { queryAuditDir } from './queryAuditDir.js';

/**
 * The folder a service writes under an audit root (`LLORCH_AUDIT_DIR`): its id with every character
 * outside `[A-Za-z0-9_.-]` replaced by `_` (`hive:gpu1` → `hive_gpu1`). One writer per folder keeps
 * one chain per service; the queen, a hive and that hive's workers can share one root.
 */
export function auditServiceDirName(serviceId: string): string {
  const name = serviceId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
  return name === '' || name === '.' || name === '..' ? `_${name}` : name;
}

/**
 * The chains under `root`: `root` itself when it holds `.audit` files, and each direct subfolder that
 * does, as `{ id, dir }` (`id` is the subfolder's name, `.` for the root), sorted by id.
 */
export async function listAuditChains(root: string): Promise<{ id: string; dir: string }[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const chains: { id: string; dir: string }[] = [];
  if (entries.some((e) => e.isFile() && AUDIT_FILE_RE.test(e.name))) chains.push({ id: '.', dir: root });
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const dir = join(root, e.name);
    const names = await readdir(dir).catch(() => [] as string[]);
    if (names.some((n) => AUDIT_FILE_RE.test(n))) chains.push({ id: e.name, dir });
  }
  return chains.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** One newest-first page over every chain under `root` (a hive's own log plus its workers'). */
export async function queryAuditTree(root: string, query: AuditQuery): Promise<MergedAuditPage> {
  const chains = await listAuditChains(root);
  return queryAuditSources(
    chains.map((c) => ({ id: c.id, query: (q: AuditQuery) => queryAuditDir(c.dir, q) })),
    query,
  );
}
