import type { Queen, QueenOptions } from '../../queen/Queen.js';

/**
 * How the desktop app obtains `createQueen` (and where it picks SSH for remote hives): loaded on first use, so the window and tray appear
 * before the queen's server stack (fastify, ssh2, …) is even parsed. The bundler keeps the dynamic
 * import as a chunk of out/main.
 */
export function createQueenLoader(): (options: QueenOptions) => Promise<Queen> {
  return async (options) => {
    const [{ createQueen }, { sshRemoteHives }] = await Promise.all([import('../../queen/createQueen.js'), import('../../remote-hive/sshRemoteHives.js')]);
    // The assembly point picks the remote-hive implementation: SSH, records under the queen's data dir.
    return createQueen({ ...options, remoteHives: sshRemoteHives() });
  };
}
