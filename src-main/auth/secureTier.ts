import type { FastifyInstance } from 'fastify';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { ApiKeyScope } from '../../src-shared/control/apiKeys.js';
import type { ApiKeyStore } from './ApiKeyStore.js';
import { AuthFailureTracker, type AuthFailureTrackerOptions } from './AuthFailureTracker.js';
import { registerProtected } from './bearerAuth.js';
import { OriginPolicy } from './originPolicy.js';
import { requestGuard } from './requestGuard.js';
import { auditRequestRejections } from './requestRejectionAudit.js';

export interface TierSecurityOptions {
  /** The address the tier binds. */
  boundHost: string;
  /** The bound port (after listen). */
  port: () => number;
  token: string;
  /** Scoped API keys (the queen). */
  keys?: ApiKeyStore;
  audit: AuditSink;
  allowedHosts?: () => readonly string[];
  allowedOrigins?: () => readonly string[];
  auditSuccess?: 'every' | 'first';
  /** Failure-limiter tuning (tests shorten the windows). */
  failureLimits?: Omit<AuthFailureTrackerOptions, 'audit'>;
}

export interface TierSecurity {
  readonly policy: OriginPolicy;
  readonly failures: AuthFailureTracker;
  /** Registers routes behind bearer auth (an encapsulated scope) that need `requires` (default admin). */
  protect(routes: (scope: FastifyInstance) => void | Promise<void>, requires?: ApiKeyScope): void;
}

/**
 * What every tier (queen, hive, worker) puts in front of its routes: the Host/Origin guard for the
 * whole server, and one protected scope for everything but its public GETs.
 */
export function secureTier(app: FastifyInstance, options: TierSecurityOptions): TierSecurity {
  const policy = new OriginPolicy({ boundHost: options.boundHost, port: options.port, allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins });
  const failures = new AuthFailureTracker({
    audit: options.audit,
    ...options.failureLimits,
    onAuditError: (error) => app.log.warn({ err: error }, 'audit emit failed'),
  });
  void app.register(requestGuard, { policy });
  auditRequestRejections(app, options.audit);
  app.addHook('onClose', async () => failures.flush());
  return {
    policy,
    failures,
    protect: (routes, requires = 'admin') =>
      registerProtected(app, { token: options.token, keys: options.keys, requires, audit: options.audit, policy, failures, auditSuccess: options.auditSuccess }, routes),
  };
}
