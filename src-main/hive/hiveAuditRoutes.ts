import type { FastifyInstance } from 'fastify';
import type { AuditHead, AuditPage, AuditQuery } from '../../src-shared/audit/AuditEvent.js';
import { AuditQueryError } from '../../src-shared/audit/AuditErrors.js';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { AuditQuerySchema } from '../../src-shared/control/controlSchemas.js';
import { AuditWitnessBodySchema, HiveRoutes } from '../../src-shared/hive/hiveApi.js';
import { parseBody } from '../common/http/parseBody.js';

/** What the hive's audit routes need: its chains' heads, and a way to record another tier's. */
export interface HiveAuditWitness {
  /** This hive's head and its workers' (each durable before it is named). */
  heads(): Promise<AuditHead[]>;
  /** Records heads another tier pushed (the queen's) as `witness` records; resolves once durable. */
  witness(heads: readonly AuditHead[], source: string): Promise<void>;
  /** One newest-first page over this hive's chain and its workers' (for the queen's merged query). */
  query(query: AuditQuery): Promise<AuditPage>;
}

/**
 * Cross-witnessing (docs/audit.md "Witnesses"): `GET /v1/audit/heads` gives the queen this hive's and
 * its workers' heads to record; `POST /v1/audit/witness` records the queen's head here. So cutting one
 * tier's chain is seen from the other. With audit off (`witness` null) heads are empty and a push
 * records nothing.
 */
export function registerHiveAuditRoutes(app: FastifyInstance, witness: HiveAuditWitness | null): void {
  app.get(HiveRoutes.auditHeads, async () => ({ heads: witness ? await witness.heads() : [] }));
  app.post(HiveRoutes.auditWitness, async (request) => {
    const body = parseBody(AuditWitnessBodySchema, request.body);
    if (!witness) return { recorded: 0 };
    await witness.witness(body.heads, body.source);
    return { recorded: body.heads.length };
  });
  app.post(HiveRoutes.auditQuery, async (request) => {
    const query = parseBody(AuditQuerySchema, request.body);
    if (!witness) return { records: [], next_cursor: null };
    try {
      return await witness.query(query);
    } catch (error) {
      if (error instanceof AuditQueryError) throw new ApiError(400, 'INVALID_REQUEST', error.message);
      throw error;
    }
  });
}
