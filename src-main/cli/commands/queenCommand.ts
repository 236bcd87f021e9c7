import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { intOption } from '../intOption.js';
import { isLoopbackHost } from '../../auth/bindPolicy.js';
import { loadToken } from '../../auth/loadToken.js';
import { defaultDataDir } from '../../common/dataDir.js';
import { createLogger } from '../../common/log/createLogger.js';
import { announce } from '../../common/process/announce.js';
import { onTerminationSignals } from '../../common/process/onTerminationSignals.js';
import { createQueen } from '../../queen/createQueen.js';
import { sshRemoteHives } from '../../remote-hive/sshRemoteHives.js';

export const QUEEN_TOKEN_ENV = 'LLORCH_API_TOKEN';

const USAGE = `usage: rbee queen [options]
  --host HOST         bind address (default 127.0.0.1; others need a token of ≥ 16 characters);
                      0.0.0.0 exposes the API on the LAN
  --tls               serve HTTPS with a self-signed certificate kept in <data-dir>/tls; its SHA-256
                      fingerprint is printed for LAN clients to pin (needs the openssl command once)
  --port N            default 7833; 0 = ephemeral
  --data-dir DIR      settings, models, audit log (default ${defaultDataDir()})
  --demo              generate the tiny demo model and serve it with one worker
  --no-local-hive     do not start a hive on this machine
  --audit MODE        local | disabled (default: $LLORCH_AUDIT_MODE, else the saved setting)
  --audit-dir DIR     the audit root (default: $LLORCH_AUDIT_DIR, else <data-dir>/audit)
  --audit-key-file F  the audit sealing key (0400 file outside the audit folder; default: $LLORCH_AUDIT_KEY_FILE)
  --audit-witness-interval S  seconds between audit head exchanges with each hive (default 60; 0: only at
                      hive connect, disconnect and shutdown)
  --token-file PATH   API token file (else env ${QUEEN_TOKEN_ENV}, else <data-dir>/api-token, generated 0600)
  --allowed-host NAME a Host name to answer to besides loopback and the bound address (repeatable)
  --allowed-origin O  a browser origin (scheme://host[:port]) allowed to call the API, with CORS (repeatable)
  --policy JSON       worker restart policy for the local hive (docs/restart-policy.md)
  --hive-policy JSON  restart policy for the local hive daemon itself
  --remote-deps MODE  how remote hives get their runtime packages: registry (default: npm install on the
                      remote) | upload (packed here and sent over SFTP: remotes without registry access)
  --remote-data-dir D where remote hives keep their data, an absolute path on each remote
                      (default: the remote user's ~/.local/share/rbee)
Prints {"event":"listening","port":N,"url":URL} on stdout once serving.
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string' },
        'data-dir': { type: 'string' },
        demo: { type: 'boolean', default: false },
        tls: { type: 'boolean', default: false },
        'no-local-hive': { type: 'boolean', default: false },
        audit: { type: 'string' },
        'audit-dir': { type: 'string' },
        'audit-witness-interval': { type: 'string' },
        'audit-key-file': { type: 'string' },
        'token-file': { type: 'string' },
        'allowed-host': { type: 'string', multiple: true },
        'allowed-origin': { type: 'string', multiple: true },
        policy: { type: 'string' },
        'hive-policy': { type: 'string' },
        'remote-deps': { type: 'string' },
        'remote-data-dir': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    process.stderr.write(`rbee queen: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const remoteDeps = values['remote-deps'] ?? 'registry';
  if (remoteDeps !== 'registry' && remoteDeps !== 'upload') {
    process.stderr.write(`rbee queen: --remote-deps must be registry or upload, not '${remoteDeps}'\n${USAGE}`);
    return 2;
  }
  const remoteDataDir = values['remote-data-dir'];
  if (remoteDataDir !== undefined && !remoteDataDir.startsWith('/')) {
    process.stderr.write(`rbee queen: --remote-data-dir must be an absolute path on the remote\n${USAGE}`);
    return 2;
  }
  let port: number;
  let witnessSeconds: number | undefined;
  try {
    port = intOption('port', values.port, 0, 65535) ?? 7833;
    witnessSeconds = intOption('audit-witness-interval', values['audit-witness-interval'], 0, 86_400);
  } catch (error) {
    process.stderr.write(`rbee queen: ${(error as Error).message}\n`);
    return 2;
  }
  const auditRaw = values.audit ?? process.env.LLORCH_AUDIT_MODE;
  if (auditRaw !== undefined && auditRaw !== '' && auditRaw !== 'local' && auditRaw !== 'disabled') {
    process.stderr.write(`rbee queen: audit mode must be local or disabled, got '${auditRaw}'\n`);
    return 2;
  }
  let workerPolicy: Record<string, number> | undefined;
  let hivePolicy: Record<string, number> | undefined;
  try {
    workerPolicy = values.policy ? (JSON.parse(values.policy) as Record<string, number>) : undefined;
    hivePolicy = values['hive-policy'] ? (JSON.parse(values['hive-policy']) as Record<string, number>) : undefined;
  } catch {
    process.stderr.write('rbee queen: --policy and --hive-policy take JSON objects\n');
    return 2;
  }
  let token: string | undefined;
  try {
    token = await loadToken({ file: values['token-file'], env: QUEEN_TOKEN_ENV });
  } catch (error) {
    process.stderr.write(`rbee queen: ${(error as Error).message}\n`);
    return 1;
  }
  const logger = createLogger('queen');

  const auditDir = values['audit-dir'] ?? (process.env.LLORCH_AUDIT_DIR?.trim() || undefined);
  const auditKeyFile = values['audit-key-file'] ?? (process.env.LLORCH_AUDIT_KEY_FILE?.trim() || undefined);
  let queen;
  try {
    queen = await createQueen({
      host: values.host,
      port,
      tls: values.tls,
      apiToken: token,
      allowedHosts: values['allowed-host'] ?? [],
      allowedOrigins: values['allowed-origin'] ?? [],
      dataDir: values['data-dir'] ?? defaultDataDir(),
      demo: values.demo,
      localHive: !values['no-local-hive'],
      auditMode: auditRaw === 'local' || auditRaw === 'disabled' ? auditRaw : undefined,
      ...(auditDir ? { auditDir: resolve(auditDir) } : {}),
      ...(auditKeyFile ? { auditKeyFile: resolve(auditKeyFile) } : {}),
      ...(witnessSeconds !== undefined ? { auditWitnessIntervalMs: witnessSeconds * 1000 } : {}),
      workerPolicy,
      hivePolicy,
      logger,
      // The assembly point picks the remote-hive implementation: SSH.
      remoteHives: sshRemoteHives({ deps: { kind: remoteDeps }, ...(remoteDataDir ? { remoteDataDir } : {}) }),
    });
  } catch (error) {
    process.stderr.write(`rbee queen: ${(error as Error).message}\n`);
    return 1;
  }
  announce({ event: 'listening', port: queen.port, url: queen.url, pid: process.pid, ...(queen.tlsFingerprint ? { tls_fingerprint: queen.tlsFingerprint } : {}) });
  process.stderr.write(`rbee queen: serving ${queen.url} (dashboard ${queen.url}/ui/, OpenAI API ${queen.url}/v1)\n`);
  if (queen.tlsFingerprint) process.stderr.write(`rbee queen: TLS certificate SHA-256 fingerprint ${queen.tlsFingerprint} (pin it in LAN clients)\n`);
  else if (!isLoopbackHost(values.host)) process.stderr.write(`rbee queen: WARNING: ${values.host} is reachable from the network over plain HTTP: tokens and prompts travel unencrypted (add --tls)\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    onTerminationSignals((signal) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping: local hive and workers first');
      queen.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    });
  });
}
