import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { verifyAuditTree } from '../../audit/auditTree.js';
import { AUDIT_ENV } from '../../audit/createAuditSink.js';

const USAGE = `usage: rbee audit verify [dir] [--json]

  Checks the hash chain of every .audit file in dir (default: $${AUDIT_ENV.dir}), oldest first: dir
  itself when it holds .audit files, and each service's subfolder (one chain per service).
  Exit 0: all entries verify (prints the count). Exit 1: names the first bad entry (file, line,
  audit_id, InvalidHash | BrokenChain | Unparsable). Exit 2: usage error or no such folder.
`;

/** `rbee audit verify [dir]`. */
export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub !== 'verify') {
    process.stderr.write(sub ? `rbee audit: unknown subcommand '${sub}'\n\n${USAGE}` : USAGE);
    return 2;
  }
  const json = rest.includes('--json');
  const positional = rest.filter((a) => !a.startsWith('--'));
  if (positional.length > 1 || rest.some((a) => a.startsWith('--') && a !== '--json')) {
    process.stderr.write(USAGE);
    return 2;
  }
  const dirArg = positional[0] ?? process.env[AUDIT_ENV.dir];
  if (!dirArg) {
    process.stderr.write(`rbee audit verify: no folder given and ${AUDIT_ENV.dir} is not set\n`);
    return 2;
  }
  const dir = resolve(dirArg);
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) {
    process.stderr.write(`rbee audit verify: ${dir} is not a folder\n`);
    return 2;
  }
  const result = await verifyAuditTree(dir);
  if (json) process.stdout.write(`${JSON.stringify({ dir, ...result })}\n`);
  if (result.ok) {
    if (!json) process.stdout.write(`audit log OK: ${result.entries} entries in ${result.files} files, ${result.chains} chains (${dir})\n`);
    return 0;
  }
  const e = result.error;
  if (!json) {
    process.stderr.write(
      `audit log BROKEN: ${e.kind} at ${e.file} line ${e.line} (audit_id ${e.audit_id ?? 'unknown'}); ` +
        `${result.entries} entries verified before it (${dir})\n`,
    );
  }
  return 1;
}
