import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import type { HiveInfo } from '../../../src-shared/cluster/HiveInfo.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import type { AddHiveRequest, AddHiveResult } from '../../../src-shared/control/ControlApi.js';
import { intOption } from '../intOption.js';
import { describeFailure, queenConnection } from '../queenClient.js';

import { HIVE_ADMIN_VERBS } from './hiveAdminVerbs.js';

export { HIVE_ADMIN_VERBS };

const USAGE = `usage:
  rbee hive add HOST|ALIAS [--port N] [--user USER] [--key FILE] [--name NAME] [--trust SHA256:…] [--yes]
  rbee hive trust HOST|ALIAS --fingerprint SHA256:… [--port N] [--user USER] [--key FILE] [--name NAME]
  rbee hive list [--json]
  rbee hive status ID [--json]
  rbee hive remove ID [--stop]
common: --url URL (default $RBEE_URL or http://127.0.0.1:7833)  --token-file PATH (else $LLORCH_API_TOKEN)
An unknown host key is shown with its SHA256 fingerprint: confirm it at the prompt, or pass it with
--trust / 'rbee hive trust … --fingerprint'. --yes accepts the key shown (trust on first use).
Exit codes: 0 ok, 1 failed, 2 usage, 3 host key not trusted yet.
`;

export interface HiveAdminIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Asks the operator; null when there is no terminal (then nothing is trusted). */
  ask: ((question: string) => Promise<string>) | null;
}

const defaultIo = (): HiveAdminIo => ({
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  ask: process.stdin.isTTY
    ? async (q) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        try {
          return await rl.question(q);
        } finally {
          rl.close();
        }
      }
    : null,
});

/**
 * `rbee hive add|trust|list|status|remove`: the operator's side of remote hives, through a running
 * queen's control API (the same operations the dashboard uses). Dispatch from `rbee hive` when
 * argv[0] is one of HIVE_ADMIN_VERBS (plain `rbee hive --…` stays the daemon).
 */
export async function run(argv: string[], io: HiveAdminIo = defaultIo()): Promise<number> {
  const [verb, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        'token-file': { type: 'string' },
        port: { type: 'string' },
        user: { type: 'string' },
        key: { type: 'string' },
        name: { type: 'string' },
        trust: { type: 'string' },
        fingerprint: { type: 'string' },
        yes: { type: 'boolean', default: false },
        stop: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    io.err(`rbee hive ${verb ?? ''}: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || !verb || !(HIVE_ADMIN_VERBS as readonly string[]).includes(verb)) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const { url, headers } = await queenConnection(values);
  const call = async (method: string, path: string, body?: unknown): Promise<Response | null> => {
    try {
      return await fetch(`${url}${path}`, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      io.err(`rbee hive ${verb}: cannot reach the queen at ${url}: ${(error as Error).message}\n`);
      return null;
    }
  };

  if (verb === 'list' || verb === 'status') {
    const res = await call('GET', ControlRoutes.hives);
    if (!res) return 1;
    if (!res.ok) return fail(io, verb, await describeFailure(res));
    const hives = ((await res.json()) as { hives: HiveInfo[] }).hives;
    if (verb === 'status') {
      const id = positionals[0];
      if (!id) return usage(io, 'status needs a hive id');
      const hive = hives.find((h) => h.id === id);
      if (!hive) return fail(io, verb, `no hive '${id}'`);
      io.out(values.json ? `${JSON.stringify(hive, null, 2)}\n` : describeHive(hive));
      return 0;
    }
    if (values.json) io.out(`${JSON.stringify(hives, null, 2)}\n`);
    else io.out(hiveTable(hives));
    return 0;
  }

  if (verb === 'remove') {
    const id = positionals[0];
    if (!id) return usage(io, 'remove needs a hive id');
    const res = await call('DELETE', `${ControlRoutes.hive(id)}?stop=${values.stop ? 'true' : 'false'}`);
    if (!res) return 1;
    if (!res.ok) return fail(io, verb, await describeFailure(res));
    io.out(`removed ${id}${values.stop ? ' (hive stopped)' : ' (the remote hive keeps running)'}\n`);
    return 0;
  }

  // add / trust
  const host = positionals[0];
  if (!host) return usage(io, `${verb} needs a host or ~/.ssh/config alias`);
  let port: number | undefined;
  try {
    port = intOption('port', values.port, 1, 65535);
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  const fingerprint = verb === 'trust' ? values.fingerprint : values.trust;
  if (verb === 'trust' && !fingerprint) return usage(io, 'trust needs --fingerprint SHA256:…');
  const request: AddHiveRequest = {
    host,
    ...(port !== undefined ? { port } : {}),
    ...(values.user !== undefined ? { user: values.user } : {}),
    ...(values.key !== undefined ? { key_file: values.key } : {}),
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(fingerprint ? { trust_fingerprint: fingerprint } : {}),
  };
  io.err(
    `adding ${host}: checking the host key, then preflight, deploy and start (this can take a while)…\n`,
  );
  let res = await call('POST', ControlRoutes.hives, request);
  if (!res) return 1;
  if (!res.ok) return fail(io, verb, await describeFailure(res));
  let result = (await res.json()) as AddHiveResult;
  if (result.status === 'needs_trust') {
    io.err(
      `The host key of ${result.host} is not known.\n  ${result.key_type} ${result.fingerprint}\nCompare it with the server's own (on the server: ssh-keygen -lf /etc/ssh/ssh_host_${result.key_type.replace(/^ssh-/, '')}_key.pub).\n`,
    );
    let accepted: string | null = null;
    if (values.yes) accepted = result.fingerprint;
    else if (io.ask) {
      const answer = (
        await io.ask(`Trust ${result.fingerprint}? Type yes or paste the fingerprint: `)
      ).trim();
      if (answer === 'yes' || answer === result.fingerprint) accepted = result.fingerprint;
    }
    if (!accepted) {
      io.err(
        `Not trusted. To trust it: rbee hive trust ${host}${port ? ` --port ${port}` : ''} --fingerprint ${result.fingerprint}\n`,
      );
      return 3;
    }
    res = await call('POST', ControlRoutes.hives, { ...request, trust_fingerprint: accepted });
    if (!res) return 1;
    if (!res.ok) return fail(io, verb, await describeFailure(res));
    result = (await res.json()) as AddHiveResult;
    if (result.status !== 'added')
      return fail(io, verb, 'the host key changed between the two calls; nothing was trusted');
  }
  if (values.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const p = result.preflight;
    io.out(`added ${result.hive.id} (${result.hive.address}) state=${result.hive.state}\n`);
    io.out(
      `  ${p.os} ${p.arch}, Node ${p.node_version ?? '-'}, ${p.free_disk_bytes === null ? '?' : `${(p.free_disk_bytes / 1024 ** 3).toFixed(1)} GiB`} free, GPUs: ${p.gpus.map((g) => `${g.name} (${g.memory_total_mb} MiB)`).join(', ') || 'none'}\n`,
    );
  }
  return 0;
}

function usage(io: HiveAdminIo, message: string): number {
  io.err(`rbee hive: ${message}\n${USAGE}`);
  return 2;
}

function fail(io: HiveAdminIo, verb: string, message: string): number {
  io.err(`rbee hive ${verb}: ${message}\n`);
  return 1;
}

function hiveTable(hives: HiveInfo[]): string {
  const rows = [['HIVE', 'KIND', 'STATE', 'ADDRESS', 'VERSION', 'OS', 'DEVICES', 'MESSAGE']];
  for (const h of hives) {
    rows.push([
      h.id,
      h.kind,
      h.state,
      h.address,
      h.version ?? '-',
      h.os ? `${h.os}/${h.arch ?? '?'}` : '-',
      String(h.devices.length),
      h.message ?? '',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return `${rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

function describeHive(h: HiveInfo): string {
  return [
    `${h.id} (${h.kind}) ${h.state}${h.message ? ` — ${h.message}` : ''}`,
    `  address ${h.address}`,
    `  version ${h.version ?? '-'}, ${h.os ?? '?'}/${h.arch ?? '?'}, Node ${h.node_version ?? '-'}`,
    `  last seen ${h.last_seen ? new Date(h.last_seen).toISOString() : 'never'}, restarts ${h.restart_count}`,
    ...h.devices.map(
      (d) => `  device ${d.id}: ${d.type} ${d.name} ${(d.memory_total / 1024 ** 3).toFixed(1)} GiB`,
    ),
    '',
  ].join('\n');
}
