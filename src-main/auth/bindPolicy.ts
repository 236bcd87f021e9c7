import { isIP } from 'node:net';

/** A token shorter than this is refused for any non-loopback bind. */
export const MIN_REMOTE_TOKEN_LENGTH = 16;

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * Bind policy (DESIGN §3): loopback is always allowed; any other address needs a token of at least
 * 16 characters. Returns the reason to refuse, or null.
 */
export function checkBindPolicy(host: string, token: string | undefined): string | null {
  if (isLoopbackHost(host)) return null;
  if (!token) return `Refusing to bind ${host} without an API token: set one of at least ${MIN_REMOTE_TOKEN_LENGTH} characters, or bind 127.0.0.1.`;
  if (token.length < MIN_REMOTE_TOKEN_LENGTH) {
    return `Refusing to bind ${host}: the API token is ${token.length} characters; at least ${MIN_REMOTE_TOKEN_LENGTH} are required off loopback.`;
  }
  return null;
}
