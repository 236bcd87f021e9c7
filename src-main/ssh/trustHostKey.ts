import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { NOOP_AUDIT_SINK } from '../../src-shared/audit/AuditEvent.js';
import { HostKeyChangedError, HostKeyRevokedError, SshError } from './errors.js';
import type { KnownHostsStore } from './knownHosts.js';
import { SshConnection } from './SshConnection.js';
import type { SshTarget } from './SshTarget.js';

export type HostKeyCheck =
  | { status: 'trusted'; fingerprint: string; keyType: string }
  | { status: 'needs_trust'; fingerprint: string; keyType: string };

/**
 * Step 1 of "add hive": reads the server's host key without authenticating. Trusted → go on;
 * unknown → show `fingerprint` to the operator; changed/revoked → throws (and audits).
 */
export async function checkHostKey(
  target: SshTarget,
  store: KnownHostsStore,
  options: { audit?: AuditSink; hiveId?: string; readyTimeoutMs?: number } = {},
): Promise<HostKeyCheck> {
  const verdict = await SshConnection.probeHostKey(target, store, options);
  switch (verdict.status) {
    case 'trusted':
      return { status: 'trusted', fingerprint: verdict.fingerprint, keyType: verdict.keyType };
    case 'unknown':
      return { status: 'needs_trust', fingerprint: verdict.fingerprint, keyType: verdict.keyType };
    case 'changed':
    case 'revoked': {
      const error =
        verdict.status === 'changed'
          ? new HostKeyChangedError(
              target.host,
              target.port,
              verdict.fingerprint,
              verdict.keyType,
              verdict.expected,
              verdict.file,
            )
          : new HostKeyRevokedError(target.host, target.port, verdict.fingerprint);
      await (options.audit ?? NOOP_AUDIT_SINK)
        .emit({
          event_type: 'host_key_changed',
          actor: 'system',
          ...(options.hiveId ? { hive_id: options.hiveId } : {}),
          reason: `${verdict.status}; refused`,
          details: {
            host: target.host,
            port: target.port,
            key_type: verdict.keyType,
            fingerprint: verdict.fingerprint,
            known_hosts: verdict.file,
          },
        })
        .catch(() => undefined);
      throw error;
    }
  }
}

/**
 * Step 2: the operator accepted `fingerprint`. Reads the key again and records it in the app's
 * known_hosts only if the server still presents exactly that key (a swap between the two steps is
 * caught). A changed key cannot be trusted over: the old entry must be removed first.
 */
export async function trustHostKey(
  target: SshTarget,
  store: KnownHostsStore,
  fingerprint: string,
  options: { audit?: AuditSink; hiveId?: string; actor?: string; readyTimeoutMs?: number } = {},
): Promise<{ fingerprint: string; keyType: string }> {
  const verdict = await SshConnection.probeHostKey(target, store, options);
  if (verdict.status === 'trusted') return { fingerprint: verdict.fingerprint, keyType: verdict.keyType };
  if (verdict.status === 'changed')
    throw new HostKeyChangedError(
      target.host,
      target.port,
      verdict.fingerprint,
      verdict.keyType,
      verdict.expected,
      verdict.file,
    );
  if (verdict.status === 'revoked')
    throw new HostKeyRevokedError(target.host, target.port, verdict.fingerprint);
  const wanted = fingerprint.startsWith('SHA256:') ? fingerprint : `SHA256:${fingerprint}`;
  if (verdict.fingerprint !== wanted) {
    throw new SshError(
      'FINGERPRINT_MISMATCH',
      `The server now presents ${verdict.fingerprint}, not the fingerprint you accepted (${wanted}). Nothing was trusted.`,
    );
  }
  store.trust(target.host, target.port, verdict.key);
  await (options.audit ?? NOOP_AUDIT_SINK)
    .emit({
      event_type: 'host_key_trusted',
      actor: options.actor ?? 'operator',
      ...(options.hiveId ? { hive_id: options.hiveId } : {}),
      details: {
        host: target.host,
        port: target.port,
        key_type: verdict.keyType,
        fingerprint: verdict.fingerprint,
        known_hosts: store.appFile,
      },
    })
    .catch(() => undefined);
  return { fingerprint: verdict.fingerprint, keyType: verdict.keyType };
}
