import { resolve } from 'node:path';
import { verifyAuditDir } from '../../audit/verifyAuditDir.js';
import { AUDIT_ENV } from '../../audit/createAuditSink.js';

const USAGE = `usage: rbee audit verify [dir] [--json]

  Checks the hash chain of every .audit file in dir (default: $${AUDIT_ENV.dir}), oldest first.
  Exit 0: all entries verify (prints the count). Exit 1: names the first bad entry (file, line,
  audit_id, InvalidHash | BrokenChain | Unparsable). Exit 2: usage error.
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
  const result = await verifyAuditDir(dir);
  if (json) process.stdout.write(`${JSON.stringify({ dir, ...result })}\n`);
  if (result.ok) {
    if (!json) process.stdout.write(`audit log OK: ${result.entries} entries in ${result.files} files (${dir})\n`);
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
