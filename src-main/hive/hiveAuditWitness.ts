import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AuditHead } from '../../src-shared/audit/AuditEvent.js';
import type { AuditLog } from '../audit/AuditLog.js';
import { queryAuditSources } from '../../src-shared/audit/mergeAuditPages.js';
import { auditServiceDirName, listAuditChains } from '../audit/auditTree.js';
import { queryAuditDir } from '../audit/queryAuditDir.js';
import { listAuditFiles } from '../audit/auditFiles.js';
import { readChainHead } from '../audit/readChainHead.js';
import type { HiveAuditWitness } from './hiveAuditRoutes.js';

/**
 * The hive's side of cross-witnessing over its own audit log: its head (flushed first) and the heads
 * of its workers' chains, which sit next to its own under the same root (`worker_<id>`, one writer
 * each, read from disk). Null when the log is off: the routes then answer empty.
 */
const CHUNK_BYTES = 4 * 1024 * 1024;

export function hiveAuditWitness(audit: AuditLog, workerIds: () => readonly string[]): HiveAuditWitness | null {
  if (audit.mode !== 'local' || audit.dir === null) return null;
  const root = dirname(audit.dir);
  const own = auditServiceDirName(audit.serviceId);
  // Only this hive's chain and its workers': a local hive shares its root with the queen.
  const chains = async (): Promise<{ id: string; dir: string }[]> => (await listAuditChains(root)).filter((c) => c.id === own || c.id.startsWith('worker_'));
  return {
    async heads() {
      const own = await audit.durableHead();
      const workers = await Promise.all(workerIds().map((id) => readChainHead(join(root, auditServiceDirName(`worker:${id}`))).catch(() => null)));
      return [own, ...workers].filter((h): h is AuditHead => h !== null);
    },
    witness: (heads, source) => audit.witness(heads, source),
    async query(query) {
      return queryAuditSources(
        (await chains()).map((c) => ({ id: c.id, query: (q) => queryAuditDir(c.dir, q) })),
        query,
      );
    },
    async files() {
      await audit.flush();
      const out: { chain: string; name: string; size: number }[] = [];
      for (const c of await chains()) {
        for (const f of await listAuditFiles(c.dir)) {
          const fh = await open(join(c.dir, f.name), 'r');
          try {
            out.push({ chain: c.id, name: f.name, size: (await fh.stat()).size });
          } finally {
            await fh.close();
          }
        }
      }
      return out;
    },
    async readFile(chain, name, offset) {
      const c = (await chains()).find((x) => x.id === chain);
      if (!c || !(await listAuditFiles(c.dir)).some((f) => f.name === name)) return null;
      const fh = await open(join(c.dir, name), 'r');
      try {
        const buffer = Buffer.alloc(CHUNK_BYTES);
        const { bytesRead } = await fh.read(buffer, 0, CHUNK_BYTES, offset);
        return { data_base64: buffer.subarray(0, bytesRead).toString('base64'), next_offset: bytesRead === CHUNK_BYTES ? offset + bytesRead : null };
      } finally {
        await fh.close();
      }
    },
  };
}
