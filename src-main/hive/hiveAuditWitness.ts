import { dirname, join } from 'node:path';
import type { AuditHead } from '../../src-shared/audit/AuditEvent.js';
import type { AuditLog } from '../audit/AuditLog.js';
import { queryAuditSources } from '../../src-shared/audit/mergeAuditPages.js';
import { auditServiceDirName, listAuditChains } from '../audit/auditTree.js';
import { queryAuditDir } from '../audit/queryAuditDir.js';
import { readChainHead } from '../audit/readChainHead.js';
import type { HiveAuditWitness } from './hiveAuditRoutes.js';

/**
 * The hive's side of cross-witnessing over its own audit log: its head (flushed first) and the heads
 * of its workers' chains, which sit next to its own under the same root (`worker_<id>`, one writer
 * each, read from disk). Null when the log is off: the routes then answer empty.
 */
export function hiveAuditWitness(audit: AuditLog, workerIds: () => readonly string[]): HiveAuditWitness | null {
  if (audit.mode !== 'local' || audit.dir === null) return null;
  const root = dirname(audit.dir);
  return {
    async heads() {
      const own = await audit.durableHead();
      const workers = await Promise.all(workerIds().map((id) => readChainHead(join(root, auditServiceDirName(`worker:${id}`))).catch(() => null)));
      return [own, ...workers].filter((h): h is AuditHead => h !== null);
    },
    witness: (heads, source) => audit.witness(heads, source),
    async query(query) {
      // Only this hive's chain and workers': a local hive shares its root with the queen.
      const own = auditServiceDirName(audit.serviceId);
      const chains = (await listAuditChains(root)).filter((c) => c.id === own || c.id.startsWith('worker_'));
      return queryAuditSources(
        chains.map((c) => ({ id: c.id, query: (q) => queryAuditDir(c.dir, q) })),
        query,
      );
    },
  };
}
