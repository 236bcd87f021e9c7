import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { intOption } from '../intOption.js';
import { InvalidRestartPolicyError, resolveRestartPolicy } from '../../../src-shared/policy/RestartPolicyConfig.js';
import { loadToken } from '../../auth/loadToken.js';
import { HIVE_TOKEN_FILE, loadOrCreateTokenFile } from '../../auth/tokenFile.js';
import { defaultDataDir } from '../../common/dataDir.js';
import { createLogger } from '../../common/log/createLogger.js';
import { announce } from '../../common/process/announce.js';
import { watchParent } from '../../common/process/watchParent.js';
import { HIVE_ADMIN_VERBS } from './hiveAdminVerbs.js';
import { AUDIT_ENV, auditSinkFromEnv, type AuditLog } from '../../audit/index.js';
import { hiveAuditWitness } from '../../hive/hiveAuditWitness.js';
import { createHive } from '../../hive/createHive.js';
import { DOWNLOAD_ALLOW_LOOPBACK_ENV, DOWNLOAD_ALLOW_PRIVATE_ENV } from '../../hive/downloadNetworkPolicy.js';
import type { Hive } from '../../hive/Hive.js';

/** Environment variable through which the hive gets its bearer token (never argv). */
export const HIVE_TOKEN_ENV = 'RBEE_HIVE_TOKEN';
/**
 * Environment fallback for --models-rescan-ms: a hive started by a queen inherits it. Tests set it huge
 * so that only the folder watch can explain a prompt listing (no wall-clock assertion needed).
 */
export const MODELS_RESCAN_ENV = 'RBEE_HIVE_MODELS_RESCAN_MS';

const USAGE = `usage: rbee hive --models-dir DIR [options]      (the daemon)
       rbee hive add|trust|list|status|remove ...  (remote hives, through a running queen; rbee hive add --help)
  --models-dir DIR      folder of GGUF models (required; created if missing)
  --id ID               hive id (default local)
  --host HOST           bind address (default 127.0.0.1; others need a token of ≥ 16 characters)
  --port N              default 7835; 0 = ephemeral (the bound port is printed as JSON on stdout)
  --socket-dir DIR      listen on DIR/hive.sock and start workers on DIR/w-<id>.sock instead of TCP
                        (remote hives: no TCP port at all; DIR is made 0700). --host/--port are ignored
  --token-file PATH     bearer token file (else env ${HIVE_TOKEN_ENV}, else <data-dir>/${HIVE_TOKEN_FILE}, generated 0600)
  --data-dir DIR        where a generated token and the worker logs (logs/) are kept (default ${defaultDataDir()})
  --allowed-host NAME   a Host name to answer to besides loopback and the bound address (repeatable)
  --download-allow-loopback  let model downloads reach 127.0.0.0/8 and ::1 (default: refused;
                        env ${DOWNLOAD_ALLOW_LOOPBACK_ENV}=1)
  --download-deny-private    refuse downloads from private LAN addresses (default: allowed;
                        env ${DOWNLOAD_ALLOW_PRIVATE_ENV}=0)
  --policy JSON         restart policy override, e.g. '{"backoff_base_ms":500}' (docs/restart-policy.md)
  --idle-ttl-ms N       stop workers idle this long (default: never)
  --threads N           worker threads when a spawn request does not say (default: half the cores)
  --shutdown-timeout-ms N  cap of the graceful shutdown cascade (default 30000)
  --models-rescan-ms N  safety-net rescan period of the watched models folder (default 5000;
                        env ${MODELS_RESCAN_ENV})
  --exit-with-parent    stop (gracefully) when the process that started this hive is gone
  --gpu auto|off        probe GPUs for devices and admission (default auto)
  --memory-reserve-mb N RAM/VRAM the admission check keeps free (default 256)
  --standby N           pre-started worker processes kept warm for fast (re)starts (default 1; 0 = off)
  --audit MODE          local | disabled (default: $LLORCH_AUDIT_MODE, else disabled); its workers follow
  --audit-dir DIR       the audit root (default: $LLORCH_AUDIT_DIR); the hive writes <root>/hive_<id>
  --audit-key-file F    the audit sealing key, a 0400 file outside the audit folder (default: $LLORCH_AUDIT_KEY_FILE)

Prints {"event":"listening","port":N,"pid":N,"hive_id":ID,"url":URL} on stdout once serving
(with --socket-dir also "socket":PATH, and port 0).
SIGTERM/SIGINT or POST /v1/shutdown: stops every worker (polite → SIGTERM → SIGKILL, ≤ 30 s), exit 0.
`;

export async function run(argv: string[]): Promise<number> {
  // `rbee hive add|trust|list|status|remove` manage remote hives through a running queen; plain
  // `rbee hive --…` is the daemon.
  if (argv[0] !== undefined && (HIVE_ADMIN_VERBS as readonly string[]).includes(argv[0])) {
    return (await import('./hiveAdminCli.js')).run(argv);
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        'models-dir': { type: 'string' },
        id: { type: 'string', default: 'local' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '7835' },
        'socket-dir': { type: 'string' },
        'token-file': { type: 'string' },
        'data-dir': { type: 'string' },
        'allowed-host': { type: 'string', multiple: true },
        'download-allow-loopback': { type: 'boolean', default: false },
        'download-deny-private': { type: 'boolean', default: false },
        policy: { type: 'string' },
        'idle-ttl-ms': { type: 'string' },
        threads: { type: 'string' },
        'shutdown-timeout-ms': { type: 'string' },
        'models-rescan-ms': { type: 'string' },
        gpu: { type: 'string', default: 'auto' },
        'exit-with-parent': { type: 'boolean', default: false },
        'memory-reserve-mb': { type: 'string' },
        standby: { type: 'string' },
        audit: { type: 'string' },
        'audit-dir': { type: 'string' },
        'audit-key-file': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    process.stderr.write(`rbee hive: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values['models-dir']) {
    process.stderr.write(`rbee hive: --models-dir is required\n${USAGE}`);
    return 2;
  }
  if (values.gpu !== 'auto' && values.gpu !== 'off') {
    process.stderr.write('rbee hive: --gpu must be auto or off\n');
    return 2;
  }
  let standbyWorkers: number | undefined;
  let port: number, idleTtlMs: number | undefined, threads: number | undefined, shutdownTimeoutMs: number | undefined, reserveMb: number | undefined;
  let rescanMs: number | undefined;
  let policy;
  try {
    port = intOption('port', values.port, 0, 65535) ?? 7835;
    idleTtlMs = intOption('idle-ttl-ms', values['idle-ttl-ms'], 1000, 7 * 86_400_000);
    threads = intOption('threads', values.threads, 1, 256);
    shutdownTimeoutMs = intOption('shutdown-timeout-ms', values['shutdown-timeout-ms'], 100, 600_000);
    reserveMb = intOption('memory-reserve-mb', values['memory-reserve-mb'], 0, 1_048_576);
    rescanMs = intOption('models-rescan-ms', values['models-rescan-ms'] ?? process.env[MODELS_RESCAN_ENV], 100, 7 * 86_400_000);
    standbyWorkers = intOption('standby', values.standby, 0, 8);
    let parsedPolicy: unknown = {};
    if (values.policy !== undefined) {
      try {
        parsedPolicy = JSON.parse(values.policy);
      } catch {
        throw new Error('--policy must be a JSON object');
      }
    }
    policy = resolveRestartPolicy(parsedPolicy);
  } catch (error) {
    const message = error instanceof InvalidRestartPolicyError ? error.message : (error as Error).message;
    process.stderr.write(`rbee hive: ${message}\n`);
    return 2;
  }
  const logger = createLogger('hive').child({ hive_id: values.id });
  // There is no auth-off mode: without a configured token the hive keeps one in <data-dir>/hive-token.
  let token: string;
  try {
    const configured = await loadToken({ file: values['token-file'], env: HIVE_TOKEN_ENV });
    if (configured) {
      token = configured;
    } else {
      const tokenPath = join(values['data-dir'] ?? defaultDataDir(), HIVE_TOKEN_FILE);
      const generated = await loadOrCreateTokenFile(tokenPath);
      token = generated.token;
      process.stderr.write(`rbee hive: API token ${generated.created ? 'generated in' : 'read from'} ${tokenPath}\n`);
    }
  } catch (error) {
    process.stderr.write(`rbee hive: ${(error as Error).message}\n`);
    return 1;
  }
  // LLORCH_AUDIT_MODE / LLORCH_AUDIT_DIR: the hive's own chain (its workers inherit the environment).
  // The flags win over the environment, and go into it: the hive's workers inherit its audit settings.
  if (values.audit !== undefined) process.env[AUDIT_ENV.mode] = values.audit;
  if (values['audit-dir'] !== undefined) process.env[AUDIT_ENV.dir] = resolve(values['audit-dir']);
  if (values['audit-key-file'] !== undefined) process.env[AUDIT_ENV.keyFile] = resolve(values['audit-key-file']);
  let audit: AuditLog;
  try {
    audit = await auditSinkFromEnv(`hive:${values.id}`, process.env, {
      secrets: () => [token],
      onError: (error) => logger.warn({ err: error }, 'audit write failed'),
    });
  } catch (error) {
    process.stderr.write(`rbee hive: ${(error as Error).message}\n`);
    return 1;
  }

  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));
  let hive: Hive | undefined;
  let stopping = false;
  const shutdown = (why: string): void => {
    if (stopping) {
      logger.info({ why }, 'already shutting down');
      return;
    }
    stopping = true;
    logger.info({ why }, 'shutting down');
    const done = (hive ? hive.close() : Promise.resolve()).then(() => audit.close());
    done.then(
      () => {
        logger.flush();
        resolveExit(0);
      },
      (error: unknown) => {
        process.stderr.write(`rbee hive: shutdown failed: ${String(error)}\n`);
        resolveExit(1);
      },
    );
  };
  // `on`, not `once`: a repeated signal during the cascade must not kill the hive before its workers.
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // Last resort: whatever ends this process, no worker outlives it (workers also watch their parent).
  process.once('exit', () => hive?.supervisor.killAll());

  try {
    hive = await createHive({
      modelsDir: values['models-dir'],
      id: values.id,
      host: values.host,
      port,
      ...(values['socket-dir'] === undefined ? {} : { socketDir: values['socket-dir'] }),
      token,
      allowedHosts: values['allowed-host'] ?? [],
      logsDir: join(values['data-dir'] ?? defaultDataDir(), 'logs'),
      download: {
        network: {
          allowLoopback: values['download-allow-loopback'] || process.env[DOWNLOAD_ALLOW_LOOPBACK_ENV] === '1',
          allowPrivate: !values['download-deny-private'] && process.env[DOWNLOAD_ALLOW_PRIVATE_ENV] !== '0',
        },
      },
      logger,
      policy,
      idleTtlMs: idleTtlMs ?? null,
      defaultThreads: threads,
      shutdownTimeoutMs,
      gpu: values.gpu === 'off' ? false : 'auto',
      memoryReserveBytes: reserveMb === undefined ? undefined : reserveMb * 1024 * 1024,
      standbyWorkers,
      ...(rescanMs === undefined ? {} : { watchModels: { rescanMs } }),
      onShutdownRequested: () => shutdown('POST /v1/shutdown'),
      audit,
      auditWitness: hiveAuditWitness(audit, () => hive?.supervisor.list().map((w) => w.id) ?? []),
    });
    // The hive's audit records also travel on its event stream: the dashboard tails them live.
    const liveHive = hive;
    audit.onRecord((record) => liveHive.events.publish({ type: 'audit', record }));
    // A hive started by a local queen ends with it (no orphans if the app crashes); remote hives
    // are started detached and keep serving across queen restarts.
    if (values['exit-with-parent']) watchParent(() => shutdown('parent gone'));
  } catch (error) {
    process.stderr.write(`rbee hive: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  if (stopping) {
    await hive.close();
    await audit.close();
  } else {
    announce({ event: 'listening', port: hive.port, ...(hive.socketPath === null ? {} : { socket: hive.socketPath }), pid: process.pid, hive_id: hive.id, url: hive.url });
  }
  return exited;
}
