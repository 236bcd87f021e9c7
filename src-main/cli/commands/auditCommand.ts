import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AuditFileChunkSchema, AuditFilesAnswerSchema } from '../../../src-shared/hive/hiveApi.js';
import { describeFailure, queenConnection } from '../queenClient.js';
import type { AuditHead } from '../../../src-shared/audit/AuditEvent.js';
import { AUDIT_ENV } from '../../audit/createAuditSink.js';
import { readAuditHeads } from '../../audit/readAuditHeads.js';
import { AuditKeyFileError, readAuditKeyFile } from '../../audit/readAuditKeyFile.js';
import type { AuditChainsReport } from '../../audit/verifyAuditChains.js';
import { verifyAuditChains } from '../../audit/verifyAuditChains.js';

const USAGE = `usage: rbee audit verify [dir...] [--heads FILE] [--key FILE] [--json]
       rbee audit head [dir] [--json]
       rbee audit export --hive H --out DIR [--url URL] [--token-file F] [--data-dir D]

  verify: checks every chain under each dir (default: $${AUDIT_ENV.dir}): dir itself when it holds
  .audit files, and each service's subfolder (one chain per service). Each chain gets a verdict:
    OK             the chain verifies and ends in a clean-shutdown seal
    UNSEALED-TAIL  (warning) its last record is not a seal: a crash, a live writer, or a cut seal
    EDITED         a record does not match its hash / MAC / predecessor, or a witness saw another hash
    GAP            seq jumps: a middle record or file is gone
    TRUNCATED      a witness saw a higher seq than the chain's last record
    MISSING        a witnessed chain is not there
  Witnesses are the 'witness' records inside the chains read, plus --heads FILE (lines printed by
  'rbee audit head', kept elsewhere). --key FILE: the sealing key; every record must carry its MAC.
  Exit 0: all OK or only UNSEALED-TAIL. Exit 1: any EDITED, GAP, TRUNCATED or MISSING. Exit 2: usage.

  head: prints each chain's head, one JSON line {"chain","seq","hash"} per chain.

  export: copies hive H's chain files (its own and its workers') through the running queen into
  DIR/<chain>/ (0600 files, 0700 folders), so 'rbee audit verify DIR <queen audit dir>' checks them
  against the witnesses the queen holds.
`;

interface Parsed {
  dirs: string[];
  heads: string | null;
  key: string | null;
  json: boolean;
}

function parse(args: string[], withFiles: boolean): Parsed | string {
  const out: Parsed = { dirs: [], heads: null, key: null, json: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--json') out.json = true;
    else if (withFiles && (a === '--heads' || a === '--key')) {
      const value = args[++i];
      if (!value || value.startsWith('--')) return `${a} needs a file`;
      if (a === '--heads') out.heads = value;
      else out.key = value;
    } else if (a.startsWith('--')) return `unknown option '${a}'`;
    else out.dirs.push(a);
  }
  return out;
}

async function resolveDirs(sub: string, dirs: string[]): Promise<string[] | string> {
  const given = dirs.length > 0 ? dirs : process.env[AUDIT_ENV.dir] ? [process.env[AUDIT_ENV.dir] as string] : [];
  if (given.length === 0) return `rbee audit ${sub}: no folder given and ${AUDIT_ENV.dir} is not set`;
  const out: string[] = [];
  for (const d of given) {
    const dir = resolve(d);
    const isDir = await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) return `rbee audit ${sub}: ${dir} is not a folder`;
    out.push(dir);
  }
  return out;
}

function printReport(report: AuditChainsReport, dirs: string[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok: report.ok, dirs, entries: report.entries, files: report.files, chains: report.chains })}\n`);
    return;
  }
  for (const c of report.chains) {
    const where = c.file ? ` at ${c.file}${c.line ? ` line ${c.line}` : ''}${c.audit_id ? ` (audit_id ${c.audit_id})` : ''}` : '';
    const kind = c.kind ? `${c.kind}: ` : '';
    const retention = c.retention_from_seq ? `, kept from seq ${c.retention_from_seq} (retention)` : '';
    const line = `${c.verdict.padEnd(13)} ${c.chain}: ${c.entries} entries, head seq ${c.head_seq ?? '-'}${retention}${c.detail ? `; ${kind}${c.detail}` : ''}${where}\n`;
    (c.verdict === 'OK' ? process.stdout : process.stderr).write(line);
  }
  const summary = `audit log ${report.ok ? 'OK' : 'BROKEN'}: ${report.entries} entries in ${report.files} files, ${report.chains.length} chains (${dirs.join(', ')})\n`;
  (report.ok ? process.stdout : process.stderr).write(summary);
}

async function verify(args: string[]): Promise<number> {
  const parsed = parse(args, true);
  if (typeof parsed === 'string') {
    process.stderr.write(`rbee audit verify: ${parsed}\n\n${USAGE}`);
    return 2;
  }
  const dirs = await resolveDirs('verify', parsed.dirs);
  if (typeof dirs === 'string') {
    process.stderr.write(`${dirs}\n`);
    return 2;
  }
  let heads: AuditHead[] = [];
  let key: Buffer | undefined;
  try {
    if (parsed.heads) heads = readAuditHeads(await readFile(parsed.heads, 'utf8'));
    if (parsed.key) key = await readAuditKeyFile(parsed.key);
  } catch (error) {
    const message = error instanceof AuditKeyFileError || error instanceof SyntaxError ? error.message : String(error);
    process.stderr.write(`rbee audit verify: ${message}\n`);
    return 2;
  }
  const report = await verifyAuditChains(dirs, { heads, ...(key ? { key } : {}) });
  printReport(report, dirs, parsed.json);
  return report.ok ? 0 : 1;
}

async function head(args: string[]): Promise<number> {
  const parsed = parse(args, false);
  if (typeof parsed === 'string' || parsed.dirs.length > 1) {
    process.stderr.write(`rbee audit head: ${typeof parsed === 'string' ? parsed : 'one folder at most'}\n\n${USAGE}`);
    return 2;
  }
  const dirs = await resolveDirs('head', parsed.dirs);
  if (typeof dirs === 'string') {
    process.stderr.write(`${dirs}\n`);
    return 2;
  }
  const report = await verifyAuditChains(dirs, { allowPartialTail: true });
  for (const c of report.chains) {
    if (c.head_seq === null) continue;
    process.stdout.write(`${JSON.stringify({ chain: c.chain, seq: c.head_seq, hash: c.head_hash })}\n`);
  }
  return 0;
}

async function exportHive(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, strict: true, options: { hive: { type: 'string' }, out: { type: 'string' }, url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' } } }));
  } catch (error) {
    process.stderr.write(`rbee audit export: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!values.hive || !values.out) {
    process.stderr.write(`rbee audit export: --hive and --out are required\n\n${USAGE}`);
    return 2;
  }
  const { url, headers } = await queenConnection(values);
  const base = `${url}/v1/control/hives/${encodeURIComponent(values.hive)}/audit/files`;
  const get = async (path: string): Promise<unknown> => {
    const res = await fetch(`${base}${path}`, { headers });
    if (!res.ok) throw new Error(await describeFailure(res));
    return res.json();
  };
  try {
    const { files } = AuditFilesAnswerSchema.parse(await get(''));
    const out = resolve(values.out);
    let bytes = 0;
    for (const f of files) {
      const dir = join(out, f.chain);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const parts: Buffer[] = [];
      let offset: number | null = 0;
      while (offset !== null) {
        const chunk = AuditFileChunkSchema.parse(await get(`/${encodeURIComponent(f.chain)}/${encodeURIComponent(f.name)}?offset=${offset}`));
        parts.push(Buffer.from(chunk.data_base64, 'base64'));
        offset = chunk.next_offset;
      }
      const data = Buffer.concat(parts);
      bytes += data.length;
      await writeFile(join(dir, f.name), data, { mode: 0o600 });
    }
    process.stdout.write(`exported ${files.length} files (${bytes} bytes) of hive ${values.hive} to ${out}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`rbee audit export: ${(error as Error).message}\n`);
    return 1;
  }
}

/** `rbee audit verify|head|export`. */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub === 'verify') return verify(rest);
  if (sub === 'head') return head(rest);
  if (sub === 'export') return exportHive(rest);
  process.stderr.write(sub ? `rbee audit: unknown subcommand '${sub}'\n\n${USAGE}` : USAGE);
  return 2;
}
