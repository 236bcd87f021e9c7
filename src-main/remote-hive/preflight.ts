import type { PreflightReport } from '../../src-shared/control/ControlApi.js';
import { SshError } from '../ssh/errors.js';
import { shQuote, shScript } from '../ssh/shellQuote.js';
import type { SshConnection } from '../ssh/SshConnection.js';

export interface PreflightOptions {
  /** Remote data dir (absolute); versions live in `<dataDir>/hive/<version>`. Defaults to `$XDG_DATA_HOME/rbee` or `~/.local/share/rbee`. */
  dataDir?: string;
  /** The version this app would deploy; `installed_version` reports it when present. */
  version?: string;
  /** Minimum Node major. Defaults to 20. */
  minNodeMajor?: number;
  /** Below this many free bytes in the data dir's file system: a problem. Defaults to 1 GiB. */
  minFreeBytes?: number;
  /** Node binary to use on the remote; defaults to `node` on the remote PATH (plus common install dirs). */
  nodePath?: string;
}

export interface PreflightResult extends PreflightReport {
  /** Remote `$HOME`. */
  home: string;
  /** Absolute remote data dir used. */
  data_dir: string;
  /** Absolute path of the remote node binary, or null. */
  node_path: string | null;
  /** Versions found under `<dataDir>/hive/`. */
  installed_versions: string[];
}

/**
 * One remote `sh` script that reports what the hive needs, as `key=value` lines: OS/arch (uname),
 * Node (`node --version`, also in ~/.nvm, /usr/local/bin), free disk (`df -Pk`), GPUs
 * (`nvidia-smi` when it exists), installed hive versions. Every caller value is single-quoted.
 */
export async function preflight(
  connection: SshConnection,
  options: PreflightOptions = {},
): Promise<PreflightResult> {
  const dataDirExpr = options.dataDir
    ? shQuote(options.dataDir)
    : '"${XDG_DATA_HOME:-$HOME/.local/share}/rbee"';
  const nodeExpr = options.nodePath ? shQuote(options.nodePath) : '""';
  const script = [
    'export LC_ALL=C',
    `data=${dataDirExpr}`,
    `node=${nodeExpr}`,
    'echo "home=$HOME"',
    'echo "data_dir=$data"',
    'echo "os=$(uname -s)"',
    'echo "arch=$(uname -m)"',
    'if [ -z "$node" ]; then node=$(command -v node 2>/dev/null); fi',
    'if [ -z "$node" ]; then for c in /usr/local/bin/node /opt/homebrew/bin/node "$HOME"/.nvm/versions/node/*/bin/node "$HOME"/.volta/bin/node; do if [ -x "$c" ]; then node=$c; fi; done; fi',
    'if [ -n "$node" ] && [ -x "$node" ]; then echo "node_path=$node"; echo "node_version=$("$node" --version 2>/dev/null)"; fi',
    'd=$data; while [ ! -d "$d" ]; do d=$(dirname "$d"); done',
    'echo "df=$(df -Pk "$d" 2>/dev/null | tail -n 1)"',
    'if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>/dev/null | while IFS= read -r g; do echo "gpu=$g"; done; fi',
    'if [ -d "$data/hive" ]; then for v in "$data"/hive/*/; do [ -f "$v/.rbee-complete" ] && echo "installed=$(basename "$v")"; done; fi',
    'exit 0',
  ].join('\n');
  let result = await connection.exec(shScript(script), { timeoutMs: 30_000 });
  // A session that closed without an exit status (neither code nor signal: the channel went away, not
  // the script) says nothing about the remote. The script only reads, so it runs once more.
  if (result.code === null && result.signal === null) result = await connection.exec(shScript(script), { timeoutMs: 30_000 });
  if (result.code !== 0) {
    const ending = result.code !== null ? `exit ${result.code}` : result.signal !== null ? `signal ${result.signal}` : 'no exit status';
    throw new SshError(
      'REMOTE_COMMAND_FAILED',
      `Preflight failed on the remote (${ending}): ${result.stderr.trim().slice(0, 500)}`,
    );
  }
  return parsePreflight(result.stdout, options);
}

export function parsePreflight(stdout: string, options: PreflightOptions = {}): PreflightResult {
  const values = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    values.set(key, [...(values.get(key) ?? []), line.slice(eq + 1)]);
  }
  const one = (k: string): string | null => values.get(k)?.[0]?.trim() || null;
  const minMajor = options.minNodeMajor ?? 20;
  const minFree = options.minFreeBytes ?? 1024 ** 3;
  const problems: string[] = [];

  const nodeVersion = one('node_version');
  const major = nodeVersion ? Number(/^v?(\d+)/.exec(nodeVersion)?.[1] ?? NaN) : NaN;
  const nodeOk = Number.isFinite(major) && major >= minMajor;
  if (!nodeVersion)
    problems.push(
      `Node.js is not installed on the remote (or not on the PATH of non-interactive SSH sessions). Install Node ${minMajor} or newer (e.g. from nodejs.org or your package manager).`,
    );
  else if (!nodeOk)
    problems.push(
      `Node.js ${nodeVersion} on the remote is too old: the hive needs Node ${minMajor} or newer.`,
    );

  let free: number | null = null;
  const df = one('df');
  if (df) {
    const cols = df.split(/\s+/);
    const availKb = Number(cols[3]);
    if (Number.isFinite(availKb)) free = availKb * 1024;
  }
  if (free !== null && free < minFree) {
    problems.push(
      `Only ${(free / 1024 ** 2).toFixed(0)} MiB free on the remote's disk for ${one('data_dir') ?? 'the data dir'}: the hive needs at least ${(minFree / 1024 ** 2).toFixed(0)} MiB. Free some space.`,
    );
  }

  const gpus = (values.get('gpu') ?? []).map((line) => {
    const [name, mem] = line.split(',').map((s) => s.trim());
    return { name: name ?? 'unknown', memory_total_mb: Number(mem) || 0 };
  });
  const installed = values.get('installed') ?? [];
  const os = one('os') ?? 'unknown';
  if (!['Linux', 'Darwin'].includes(os)) problems.push(`Remote OS ${os} is not supported (Linux or macOS).`);
  return {
    os,
    arch: one('arch') ?? 'unknown',
    node_version: nodeVersion,
    node_ok: nodeOk,
    free_disk_bytes: free,
    gpus,
    installed_version: options.version
      ? installed.includes(options.version)
        ? options.version
        : null
      : (installed.at(-1) ?? null),
    problems,
    home: one('home') ?? '',
    data_dir: one('data_dir') ?? '',
    node_path: one('node_path'),
    installed_versions: installed,
  };
}
