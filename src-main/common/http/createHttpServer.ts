import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { ZodError } from 'zod';
import { ApiError, type ErrorCode } from '../../../src-shared/api/ApiError.js';
import type { Logger } from '../log/createLogger.js';
import { bodyNotAnObject, invalidBody } from './parseBody.js';
import { REQUEST_ID_HEADER, requestIdFor } from './requestId.js';

export interface HttpServerOptions {
  logger: Logger;
  /** Largest accepted request body. Defaults to 256 KiB. */
  bodyLimit?: number;
  /** Serve HTTPS with this key and certificate (PEM). Defaults to plain HTTP. */
  tls?: { key: string; cert: string };
}

/** Fastify's own error codes → our envelope. */
const FASTIFY_ERRORS: Record<string, { status: number; code: ErrorCode; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'BODY_TOO_LARGE', message: 'Request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'Request body is empty' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_REQUEST', message: 'Content-Length does not match the body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'Malformed JSON body' },
};

/**
 * Route schemas are zod schemas, so the compilers are zod's (fastify-type-provider-zod). They are handed
 * to Fastify as its compiler factory rather than through setValidatorCompiler, because Fastify
 * requires its default compilers (ajv, fast-json-stringify) whenever no factory is given: they would
 * sit unused and cost every tier ~4 MB of RSS (docs/benchmarks.md "Memory"). Fastify types the
 * factory for ajv only; zod's compilers keep the same runtime contract (route definition in, a
 * validate or serialize function out), hence the cast.
 */
const ZOD_COMPILERS = { buildValidator: () => validatorCompiler, buildSerializer: () => serializerCompiler } as unknown as NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>;

/**
 * The HTTP server every tier starts from: request ids, one root error handler that maps typed errors
 * to the `{"error":{"code","message"}}` envelope, JSON-only bodies with a size limit, and a 404 in the
 * same envelope. Route schemas are the shared zod schemas (fastify-type-provider-zod's validator): a
 * route plugin declares `schema: { body, params, querystring }` and gets typed, parsed input. Auth and
 * routes are registered by each tier.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    ...(options.tls ? { https: { key: options.tls.key, cert: options.tls.cert, minVersion: 'TLSv1.2' as const } } : {}),
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    genReqId: requestIdFor,
    requestIdHeader: false,
    // Per-request access lines are off: each tier logs what matters (auth failures, errors, lifecycle).
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    return503OnClosing: true,
    // Slow-loris limits: a request (headers and body) must arrive within 30 s; an idle keep-alive
    // socket closes after 5 s; a socket silent for longer than the longest deadline (10 min) closes.
    // Streams are not affected: event streams ping every 15 s, inference streams carry tokens.
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    connectionTimeout: 11 * 60_000,
    // Long enough that an over-long id reaches the routes' own validation (a 400 in our envelope)
    // instead of Fastify's bare 414.
    routerOptions: { maxParamLength: 512 },
    schemaController: { compilersFactory: ZOD_COMPILERS },
  });

  app.addHook('onSend', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });

  // A DELETE carries no body, yet clients (fetch wrappers, SDKs) send `Content-Type: application/json`
  // on every call: an empty body there is "no body", not malformed JSON. Everything else keeps
  // Fastify's own parser (prototype-poisoning checks, the empty-body error for a POST).
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (request.method === 'DELETE' && body === '') return done(null, undefined);
    json(request, typeof body === 'string' ? body : body.toString('utf8'), done);
  });

  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    if (error instanceof ApiError) return sendApiError(reply, error);
    if (hasZodFastifySchemaValidationErrors(error)) {
      // A route schema refused the input: the same 400 as `parseBody` gives.
      const body = request.body;
      if (error.validationContext === 'body' && (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body))) {
        return sendApiError(reply, bodyNotAnObject());
      }
      const where = error.validationContext === 'body' || error.validationContext === undefined ? '' : `${error.validationContext}.`;
      return sendApiError(reply, invalidBody(error.validation.map((issue) => ({ path: `${where}${issue.instancePath.replace(/^\//, '').replaceAll('/', '.')}`.replace(/\.$/, ''), message: issue.message ?? 'invalid' }))));
    }
    const fastifyCode = (error as FastifyError).code;
    const known = fastifyCode ? FASTIFY_ERRORS[fastifyCode] : undefined;
    if (known) return reply.code(known.status).send({ error: { code: known.code, message: known.message } });
    if (error instanceof ZodError) {
      // A schema check that was not caught where it ran (a path parameter, a query): still the caller's error.
      return reply.code(400).send({ error: { code: 'INVALID_REQUEST', message: error.issues[0]?.message ?? 'Invalid request' } });
    }
    if (error instanceof SyntaxError || fastifyCode === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return reply.code(400).send({ error: { code: 'INVALID_JSON', message: 'Malformed JSON body' } });
    }
    const status = (error as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send({ error: { code: 'INVALID_REQUEST', message: error.message } });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'Internal error' } });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `No route ${request.method} ${request.url.split('?')[0]}` } });
  });

  return app;
}

function sendApiError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.headers) reply.headers(error.headers);
  return reply.code(error.status).send(error.toBody());
}
