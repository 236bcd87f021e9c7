import type { Queen, QueenOptions } from '../../queen/Queen.js';

/**
 * How the desktop app obtains `createQueen`. Kept apart from main.ts so the wiring to
 * src-main/queen/createQueen.ts is one line.
 */
export function createQueenLoader(): (options: QueenOptions) => Promise<Queen> {
  return async () => {
    throw new Error('createQueen is not wired yet');
  };
}
