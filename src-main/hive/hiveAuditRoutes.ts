import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { AuditHead, AuditPage, AuditQuery } from '../../src-shared/audit/AuditEvent.js';
import { AuditQueryError } from '../../src-shared/audit/AuditErrors.js';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { AuditQuerySchema } from '../../src-shared/control/controlSchemas.js';
import { AuditWitnessBodySchema, HiveRoutes, type AuditFileChunk, type AuditFilesAnswer } from '../../src-shared/hive/hiveApi.js';

/** What the hive's audit routes need: its chains' heads, and a way to record another tier's. */
export interface HiveAuditWitness {
  /** This hive's head and its workers' (each durable before it is named). */
  heads(): Promise<AuditHead[]>;
  /** Records heads another tier pushed (the queen's) as `witness` records; resolves once durable. */
  witness(heads: readonly AuditHead[], source: string): Promise<void>;
  /** One newest-first page over this hive's chain and its workers' (for the queen's merged query). */
  query(query: AuditQuery): Promise<AuditPage>;
  /** The chain files (this hive's and its workers'), for `rbee audit export`. */
  files(): Promise<AuditFilesAnswer['files']>;
  /** Up to 4 MiB of one of those files from `offset`; null when `chain`/`name` is not one of them. */
  readFile(chain: string, name: string, offset: number): Promise<AuditFileChunk | null>;
}

/**
 * Cross-witnessing (docs/audit.md "Witnesses"): `GET /v1/audit/heads` gives the queen this hive's and
 * its workers' heads to record; `POST /v1/audit/witness` records the queen's head here. So cutting one
 * tier's chain is seen from the other. With audit off (`witness` null) heads are empty and a push
 * records nothing.
 */
export const hiveAuditRoutes: FastifyPluginAsync<{ witness: HiveAuditWitness | null }> = async (scope, { witness }) => {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.get(HiveRoutes.auditHeads, async () => ({ heads: witness ? await witness.heads() : [] }));
  app.post(HiveRoutes.auditWitness, { schema: { body: AuditWitnessBodySchema } }, async (request) => {
    const body = request.body;
    if (!witness) return { recorded: 0 };
    await witness.witness(body.heads, body.source);
    return { recorded: body.heads.length };
  });
  app.get(HiveRoutes.auditFiles, async () => ({ files: witness ? await witness.files() : [] }));
  app.get<{ Params: { chain: string; name: string }; Querystring: { offset?: string } }>('/v1/audit/files/:chain/:name', async (request) => {
    const offset = Number(request.query.offset ?? '0');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ApiError(400, 'INVALID_REQUEST', 'offset must be a whole number ≥ 0');
    const chunk = witness ? await witness.readFile(request.params.chain, request.params.name, offset) : null;
    if (!chunk) throw new ApiError(404, 'NOT_FOUND', `No audit file ${request.params.chain}/${request.params.name} on this hive`);
    return chunk;
  });
  app.post(HiveRoutes.auditQuery, { schema: { body: AuditQuerySchema } }, async (request) => {
    const query = request.body;
    if (!witness) return { records: [], next_cursor: null };
    try {
      return await witness.query(query);
    } catch (error) {
      if (error instanceof AuditQueryError) throw new ApiError(400, 'INVALID_REQUEST', error.message);
      throw error;
    }
  });
};
