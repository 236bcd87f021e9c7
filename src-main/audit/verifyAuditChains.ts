import { join, relative } from 'node:path';
import type { AuditChainVerdict, AuditHead, AuditRecord, AuditVerdict, AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';
import { AUDIT_GENESIS_HASH, isFailingVerdict } from '../../src-shared/audit/AuditEvent.js';
import { listAuditFiles } from './auditFiles.js';
import { listAuditChains } from './auditTree.js';
import { computeRecordHash, parseRecordLine, recordMac } from './canonicalJson.js';
import { readLinesForward } from './lineReaders.js';

/** Why a chain is EDITED, for the report (kept from the single-chain verifier's names). */
export type AuditEditKind = 'InvalidHash' | 'BrokenChain' | 'Unparsable' | 'BadMac' | 'WitnessMismatch';

export interface VerifyAuditChainsOptions {
  /** Heads kept elsewhere (`rbee audit head` output): each is a witness like the ones inside the chains. */
  heads?: readonly AuditHead[];
  /** The sealing key: every record must then carry a valid `mac`. */
  key?: Buffer;
  /** Treat an unterminated last line of a chain's newest file as not yet written (a live writer). Defaults to false. */
  allowPartialTail?: boolean;
  signal?: AbortSignal;
}

export interface AuditChainReport extends AuditChainVerdict {
  /** The folder the chain was read from (absent for a MISSING chain). */
  dir?: string;
  /** For EDITED: what exactly failed. */
  kind?: AuditEditKind;
  files: number;
}

export interface AuditChainsReport {
  /** False when any chain is EDITED, GAP, TRUNCATED or MISSING. */
  ok: boolean;
  chains: AuditChainReport[];
  entries: number;
  files: number;
}

interface Scan {
  report: AuditChainReport;
  headHash: string | null;
  firstSeq: number | null;
  claims: AuditHead[];
}

/**
 * Verifies every chain under `roots` (each root as `listAuditChains` finds them) and gives each a
 * verdict:
 * - EDITED: a record does not match its hash, its MAC (with `key`), or its predecessor; or a witness
 *   saw a different hash at a seq the chain still holds (the chain was rebuilt);
 * - GAP: seq jumps (a middle record or file is gone), or the chain's start is gone without a
 *   `retention` record naming that point;
 * - TRUNCATED: a witness saw a higher seq than the chain's last record (its tail is gone);
 * - MISSING: a witnessed chain is not there at all (its folder, or a whole tier's folder, is gone);
 * - UNSEALED-TAIL (a warning): the last record is not a clean-shutdown `audit_sealed` (a crash, a
 *   torn last line, or a cut seal);
 * - OK.
 * Witnesses are the `witness` records of every chain read plus `options.heads`.
 */
export async function verifyAuditChains(roots: readonly string[], options: VerifyAuditChainsOptions = {}): Promise<AuditChainsReport> {
  const scans: Scan[] = [];
  for (const root of roots) {
    for (const chain of await listAuditChains(root)) scans.push(await scanChain(chain.dir, chain.id, options));
  }
  const claims = new Map<string, AuditHead[]>();
  for (const claim of [...scans.flatMap((s) => s.claims), ...(options.heads ?? [])]) {
    const list = claims.get(claim.chain) ?? [];
    list.push(claim);
    claims.set(claim.chain, list);
  }
  const byChain = new Map(scans.map((s) => [s.report.chain, s]));
  const missing: AuditChainReport[] = [];
  for (const [chain, seen] of claims) {
    const top = seen.reduce((a, b) => (b.seq > a.seq ? b : a));
    const scan = byChain.get(chain);
    if (!scan) {
      missing.push({ chain, verdict: 'MISSING', detail: `witnessed at seq ${top.seq}, but no such chain was found`, entries: 0, head_seq: null, head_hash: null, witnessed_seq: top.seq, files: 0 });
      continue;
    }
    const r = scan.report;
    r.witnessed_seq = top.seq;
    if (isFailingVerdict(r.verdict) || r.head_seq === null || !r.dir) continue;
    if (top.seq > r.head_seq) {
      r.verdict = 'TRUNCATED';
      r.detail = `a witness saw seq ${top.seq}; the chain ends at seq ${r.head_seq}`;
      continue;
    }
    const checkable = seen.filter((c) => c.seq >= (scan.firstSeq ?? 1) && c.seq <= (r.head_seq ?? 0));
    const mismatch = await firstWitnessMismatch(r.dir, checkable, scan);
    if (mismatch) {
      r.verdict = 'EDITED';
      r.kind = 'WitnessMismatch';
      r.detail = `a witness saw seq ${mismatch.seq} with hash ${mismatch.hash.slice(0, 12)}…; the chain holds another record there (rebuilt)`;
    }
  }
  const chains = [...scans.map((s) => s.report), ...missing].sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
  return {
    ok: !chains.some((c) => isFailingVerdict(c.verdict)),
    chains,
    entries: chains.reduce((n, c) => n + c.entries, 0),
    files: chains.reduce((n, c) => n + c.files, 0),
  };
}

async function firstWitnessMismatch(dir: string, claims: AuditHead[], scan: Scan): Promise<AuditHead | null> {
  if (claims.length === 0) return null;
  const wanted = new Map<number, AuditHead[]>();
  for (const c of claims) wanted.set(c.seq, [...(wanted.get(c.seq) ?? []), c]);
  const head = wanted.get(scan.report.head_seq ?? -1);
  if (head && wanted.size === 1) return head.find((c) => c.hash !== scan.headHash) ?? null;
  for (const f of await listAuditFiles(dir)) {
    for await (const { line, terminated } of readLinesForward(join(dir, f.name))) {
      if (!terminated) continue;
      const record = parseRecordLine(line);
      const at = record?.seq === undefined ? undefined : wanted.get(record.seq);
      const bad = at?.find((c) => c.hash !== record?.hash);
      if (bad) return bad;
    }
  }
  return null;
}

async function scanChain(dir: string, id: string, options: VerifyAuditChainsOptions): Promise<Scan> {
  const files = await listAuditFiles(dir);
  const report: AuditChainReport = { chain: id, dir, verdict: 'OK', entries: 0, head_seq: null, head_hash: null, files: files.length };
  const scan: Scan = { report, headHash: null, firstSeq: null, claims: [] };
  const retentionPoints: { seq: number; prev: string }[] = [];
  let startCut: { seq: number; prev: string; file: string } | null = null;
  let prev: AuditRecord | null = null;
  let tornTail = false;
  const stop = (verdict: AuditVerdict, kind: AuditEditKind | null, file: string, line: number, auditId: string | null, detail: string): Scan => {
    Object.assign(report, { verdict, file, line, audit_id: auditId, detail }, kind ? { kind } : {});
    return scan;
  };
  for (let f = 0; f < files.length; f++) {
    const file = (files[f] as { name: string }).name;
    const newest = f === files.length - 1;
    let lineNo = 0;
    for await (const { line, terminated } of readLinesForward(join(dir, file))) {
      options.signal?.throwIfAborted();
      lineNo++;
      if (!terminated && newest) {
        tornTail = !options.allowPartialTail;
        break;
      }
      const record = terminated ? parseRecordLine(line) : null;
      if (record === null) return stop('EDITED', 'Unparsable', file, lineNo, auditIdOf(line), 'a line is not a record');
      if (prev === null) report.chain = record.service_id;
      if (computeRecordHash(record) !== record.hash) return stop('EDITED', 'InvalidHash', file, lineNo, record.audit_id, 'the record does not match its hash');
      if (options.key && record.mac !== recordMac(options.key, record.hash)) {
        return stop('EDITED', 'BadMac', file, lineNo, record.audit_id, 'the record does not carry a valid MAC for this key (rebuilt without the key?)');
      }
      if (prev === null) {
        scan.firstSeq = record.seq ?? 1;
        if (record.prev_hash !== AUDIT_GENESIS_HASH) {
          if (record.seq === undefined || record.seq === 1) return stop('EDITED', 'BrokenChain', file, lineNo, record.audit_id, 'the first record does not start from the genesis hash');
          startCut = { seq: record.seq, prev: record.prev_hash, file };
        } else if (record.seq !== undefined && record.seq !== 1) {
          return stop('EDITED', 'BrokenChain', file, lineNo, record.audit_id, `the genesis record has seq ${record.seq}`);
        }
      } else {
        if (record.seq !== undefined && prev.seq !== undefined && record.seq !== prev.seq + 1) {
          if (record.seq > prev.seq + 1) {
            return stop('GAP', null, file, lineNo, record.audit_id, `seq ${prev.seq + 1}..${record.seq - 1} are gone (${record.seq - prev.seq - 1} records)`);
          }
          return stop('EDITED', 'BrokenChain', file, lineNo, record.audit_id, `seq ${record.seq} follows seq ${prev.seq}`);
        }
        if (record.prev_hash !== prev.hash) return stop('EDITED', 'BrokenChain', file, lineNo, record.audit_id, 'the record does not follow its predecessor');
      }
      collect(record, scan.claims, retentionPoints);
      prev = record;
      report.entries++;
      report.head_seq = record.seq ?? null;
      scan.headHash = record.hash;
      report.head_hash = record.hash;
    }
  }
  if (startCut) {
    const cut = startCut;
    // The named point itself, or a later one: a retention run that crashed midway deleted only some
    // of the files its record announced (everything before the named point was to go).
    if (!retentionPoints.some((p) => (p.seq === cut.seq && p.prev === cut.prev) || p.seq > cut.seq)) {
      return stop('GAP', null, cut.file, 1, null, `the chain starts at seq ${cut.seq} and no retention record names that point (its start is gone)`);
    }
    report.retention_from_seq = cut.seq;
  }
  if (tornTail || prev?.event.event_type !== 'audit_sealed') {
    report.verdict = 'UNSEALED-TAIL';
    report.detail = tornTail ? 'the last line is torn (a crash mid-write; the writer repairs it at its next start)' : 'the last record is not a clean-shutdown seal (a crash, a live writer, or a cut seal)';
  }
  return scan;
}

function collect(record: AuditRecord, claims: AuditHead[], retention: { seq: number; prev: string }[]): void {
  const d = record.event.details;
  if (!d) return;
  if (record.event.event_type === 'witness' && typeof d.chain === 'string' && typeof d.seq === 'number' && typeof d.hash === 'string') {
    if (d.seq > 0) claims.push({ chain: d.chain, seq: d.seq, hash: d.hash });
  } else if (record.event.event_type === 'retention' && typeof d.first_kept_seq === 'number' && typeof d.first_kept_prev_hash === 'string') {
    retention.push({ seq: d.first_kept_seq, prev: d.first_kept_prev_hash });
  }
}

/** Best effort: the audit_id of a line that does not parse, for the report. */
function auditIdOf(line: string): string | null {
  const m = /"audit_id":"([^"\\]{1,200})"/.exec(line);
  return m ? (m[1] as string) : null;
}

/**
 * `verifyAuditChains` over one root, in the shape the control API and the dashboard have used:
 * `ok`, totals, the first failing chain as `error` (its file relative to `root`), and every chain's
 * verdict in `chains`.
 */
export async function verifyAuditTree(root: string, options: VerifyAuditChainsOptions = {}): Promise<AuditVerifyResult & { chain_count: number }> {
  const report = await verifyAuditChains([root], options);
  const chains: AuditChainVerdict[] = report.chains.map(({ dir, kind, files, ...verdict }) => {
    void files;
    const file = verdict.file && dir ? relativeFile(root, dir, verdict.file) : verdict.file;
    return { ...verdict, ...(file ? { file } : {}), ...(kind ? { detail: `${kind}: ${verdict.detail ?? ''}` } : {}) };
  });
  const base = { entries: report.entries, files: report.files, chains, chain_count: report.chains.length };
  const failing = report.chains.find((c) => isFailingVerdict(c.verdict));
  if (!failing) return { ok: true, ...base };
  const file = failing.file && failing.dir ? relativeFile(root, failing.dir, failing.file) : '';
  return { ok: false, ...base, error: { kind: failing.kind ?? failing.verdict, file, line: failing.line ?? 0, audit_id: failing.audit_id ?? null } };
}

function relativeFile(root: string, dir: string, file: string): string {
  const rel = relative(root, dir);
  return rel === '' ? file : `${rel}/${file}`;
}
