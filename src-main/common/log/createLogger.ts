import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs on stderr (stdout carries the machine-readable lifecycle lines of workers and
 * daemons). Anything that could hold a secret is redacted at the source: tokens are only ever logged
 * as `token:<fp6>` fingerprints.
 */
export function createLogger(name: string, options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name,
      level: options.level ?? process.env.RBEE_LOG_LEVEL ?? 'info',
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          'authorization',
          'token',
          '*.token',
          'apiToken',
          '*.apiToken',
        ],
        censor: '[redacted]',
      },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
