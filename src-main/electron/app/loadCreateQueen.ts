import type { Queen, QueenOptions } from '../../queen/Queen.js';

/**
 * How the desktop app obtains `createQueen`: loaded on first use, so the window and tray appear
 * before the queen's server stack (fastify, ssh2, …) is even parsed. The bundler keeps the dynamic
 * import as a chunk of out/main.
 */
export function createQueenLoader(): (options: QueenOptions) => Promise<Queen> {
  return async (options) => {
    const { createQueen } = await import('../../queen/createQueen.js');
    return createQueen(options);
  };
}
