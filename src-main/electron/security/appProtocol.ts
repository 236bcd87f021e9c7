import { extname, resolve, sep } from 'node:path';
import { APP_CSP } from './contentSecurityPolicy.js';

/**
 * Checklist 18: the renderer is served from a custom, privileged `app://rbee/` scheme (standard +
 * secure), not `file://`. Only files under the built renderer folder can be read; the host must be
 * `rbee`; everything gets the CSP header and `nosniff`.
 */
export const APP_SCHEME = 'app';
export const APP_HOST = 'rbee';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

export function appUrl(route = ''): string {
  return `${APP_ORIGIN}/index.html${route ? `#${route.replace(/^#/, '')}` : ''}`;
}

/** What `protocol.registerSchemesAsPrivileged` gets, before the app is ready. */
export const APP_SCHEME_PRIVILEGES = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: false, stream: true },
} as const;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export function mimeTypeOf(path: string): string {
  return MIME[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Maps `app://rbee/<path>` to a file under `root`, or null when the URL is not ours or would escape
 * `root` (`..`, encoded `%2e%2e`, backslashes, NUL). `/` maps to `index.html`.
 */
export function resolveAppRequestPath(url: string, root: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return null;
  let pathname: string;
  try {
    pathname = decodeURIComponent(parsed.pathname);
  } catch {
    return null;
  }
  if (pathname.includes('\0') || pathname.includes('\\')) return null;
  if (pathname.split('/').some((segment) => segment === '..')) return null;
  const relative = pathname === '/' || pathname === '' ? 'index.html' : pathname.replace(/^\/+/, '');
  const base = resolve(root);
  const file = resolve(base, relative);
  if (file !== base && !file.startsWith(base + sep)) return null;
  return file;
}

export interface AppProtocolResponder {
  /** Reads a file; rejects when it is missing. */
  readFile(path: string): Promise<Uint8Array>;
}

/** The handler for `protocol.handle(APP_SCHEME, …)`. GET/HEAD only. */
export function createAppProtocolHandler(root: string, fs: AppProtocolResponder): (request: { url: string; method: string }) => Promise<Response> {
  const headers = (contentType: string): Record<string, string> => ({
    'Content-Type': contentType,
    'Content-Security-Policy': APP_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  });
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('Method not allowed', { status: 405, headers: headers('text/plain; charset=utf-8') });
    }
    const file = resolveAppRequestPath(request.url, root);
    if (!file) return new Response('Not found', { status: 404, headers: headers('text/plain; charset=utf-8') });
    try {
      const body = await fs.readFile(file);
      return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers: headers(mimeTypeOf(file)) });
    } catch {
      return new Response('Not found', { status: 404, headers: headers('text/plain; charset=utf-8') });
    }
  };
}
