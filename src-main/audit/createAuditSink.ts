import { join } from 'node:path';
import type { AuditMode } from '../../src-shared/audit/AuditEvent.js';
import type { AuditLog } from './AuditLog.js';
import { createDisabledAuditLog } from './DisabledAuditLog.js';
import type { LocalAuditLogOptions } from './LocalAuditLog.js';
import { LocalAuditLog } from './LocalAuditLog.js';
import { auditServiceDirName } from './auditTree.js';
import type { AuditRetentionPolicy } from './AuditRetention.js';
import { readAuditKeyFile } from './readAuditKeyFile.js';

export type CreateAuditSinkOptions =
  | { mode: 'disabled'; serviceId: string; dir?: string | null }
  | ({ mode: 'local' } & LocalAuditLogOptions);

/**
 * The one way the queen, hives and workers get their audit log. `disabled`: no file, no folder, a
 * no-op `emit`. `local`: the hash-chained writer in `dir` (opened, tail recovered, before this resolves).
 */
export async function createAuditSink(options: CreateAuditSinkOptions): Promise<AuditLog> {
  if (options.mode === 'disabled') return createDisabledAuditLog(options.serviceId);
  const { mode: _mode, ...local } = options;
  return LocalAuditLog.open(local);
}

/** Env names read by `auditSinkFromEnv`. */
export const AUDIT_ENV = {
  mode: 'LLORCH_AUDIT_MODE',
  dir: 'LLORCH_AUDIT_DIR',
  keyFile: 'LLORCH_AUDIT_KEY_FILE',
  retentionDays: 'LLORCH_AUDIT_RETENTION_DAYS',
  maxBytes: 'LLORCH_AUDIT_MAX_BYTES',
} as const;

/** `LLORCH_AUDIT_RETENTION_DAYS` / `LLORCH_AUDIT_MAX_BYTES`: unset or empty → no limit; anything but a positive integer throws. */
export function auditRetentionFromEnv(env: Readonly<Record<string, string | undefined>>): AuditRetentionPolicy {
  const read = (name: string): number | null => {
    const raw = env[name]?.trim();
    if (!raw) return null;
    if (!/^[1-9]\d{0,15}$/.test(raw)) throw new Error(`${name}='${raw}' is not a positive whole number`);
    return Number(raw);
  };
  return { days: read(AUDIT_ENV.retentionDays), maxBytes: read(AUDIT_ENV.maxBytes) };
}

/** Parses `LLORCH_AUDIT_MODE`: unset or empty → disabled; `local` or `disabled`; anything else throws. */
export function auditModeFromEnv(env: Readonly<Record<string, string | undefined>>): AuditMode {
  const raw = (env[AUDIT_ENV.mode] ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'disabled' || raw === 'off') return 'disabled';
  if (raw === 'local') return 'local';
  throw new Error(`${AUDIT_ENV.mode}='${env[AUDIT_ENV.mode]}' is not a valid audit mode (use 'local' or 'disabled')`);
}

/**
 * The daemons' entry point: `LLORCH_AUDIT_MODE=local` + `LLORCH_AUDIT_DIR=<root>` → the local writer in
 * `<root>/<auditServiceDirName(serviceId)>` (one folder, one chain per service, so the queen, a hive
 * and its workers can inherit the same environment); unset → disabled. `local` without a root is a
 * configuration error (thrown, clear message), not a silent fallback. `options` passes the writer's
 * tuning and hooks (metrics, onError, secrets). `LLORCH_AUDIT_KEY_FILE` names the sealing key file
 * (0400, outside the audit folder): every record then carries its MAC; a file that is unreadable, too
 * open or too short is a startup error (`AuditKeyFileError`), never a silent unkeyed log.
 * `rbee audit verify <root>` checks every chain.
 */
export async function auditSinkFromEnv(
  serviceId: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: Partial<Omit<LocalAuditLogOptions, 'serviceId' | 'dir'>> = {},
): Promise<AuditLog> {
  const mode = auditModeFromEnv(env);
  if (mode === 'disabled') return createDisabledAuditLog(serviceId);
  const dir = env[AUDIT_ENV.dir]?.trim();
  if (!dir) throw new Error(`${AUDIT_ENV.mode}=local needs ${AUDIT_ENV.dir} (the folder to write the audit log to)`);
  const keyFile = env[AUDIT_ENV.keyFile]?.trim();
  const sealKey = keyFile ? await readAuditKeyFile(keyFile) : options.sealKey;
  const retention = auditRetentionFromEnv(env);
  return LocalAuditLog.open({ ...options, ...(sealKey ? { sealKey } : {}), retention, dir: join(dir, auditServiceDirName(serviceId)), serviceId });
}
