import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/**
 * The dashboard, served at `/ui/` (public: the page itself asks for the token and keeps it in session
 * storage). A strict CSP: only this origin, no inline script.
 */
export async function registerUiRoutes(app: FastifyInstance, uiDir: string): Promise<void> {
  app.get('/', async (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui', async (_request, reply) => reply.redirect('/ui/'));
  if (!existsSync(uiDir)) {
    app.get('/ui/', async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain')
        .send(`The dashboard is not built (${uiDir} is missing). Run: npm run build:ui`),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root: uiDir,
    prefix: '/ui/',
    index: ['index.html'],
    setHeaders: (res) => {
      res.setHeader(
        'content-security-policy',
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      );
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
    },
  });
}
