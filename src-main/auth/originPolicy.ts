import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';

export interface OriginPolicyOptions {
  /** The address the server is bound to (`127.0.0.1`, `0.0.0.0`, `::`, a name). */
  boundHost: string;
  /** The bound port (known only after listen). */
  port: () => number;
  /** Extra Host names the server answers to (`--allowed-host`, the `allowed_hosts` setting). Read per request. */
  allowedHosts?: () => readonly string[];
  /** Extra origins allowed to call (`--allowed-origin`, the `allowed_origins` setting). Read per request. */
  allowedOrigins?: () => readonly string[];
}

/** Lower-case host name without brackets or trailing dot; `null` when the value is not a host. */
export function normalizeHostName(value: string): string | null {
  let name = value.trim().toLowerCase();
  if (name.startsWith('[')) {
    const end = name.indexOf(']');
    if (end === -1) return null;
    name = name.slice(1, end);
    return isIP(name) === 6 ? name : null;
  }
  // host:port (an IPv6 literal without brackets has more than one colon and no port)
  const colons = name.split(':').length - 1;
  if (colons === 1) name = name.slice(0, name.indexOf(':'));
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0 || name.length > 253) return null;
  return name;
}

/** The Host header's name part (port dropped), normalized; null for a malformed header. */
export function hostNameOfHeader(host: string): string | null {
  return normalizeHostName(host);
}

function isLoopbackName(name: string): boolean {
  // The names nearly every request carries, answered before parsing (the check runs on every request).
  if (name === 'localhost' || name === '127.0.0.1' || name === '::1') return true;
  if (!ipaddr.isValid(name) || isIP(name) === 0) return false;
  const address = ipaddr.process(name);
  return address.range() === 'loopback';
}

function isUnspecified(host: string): boolean {
  const name = normalizeHostName(host);
  return name !== null && isIP(name) !== 0 && ipaddr.process(name).range() === 'unspecified';
}

const INTERFACE_CACHE_MS = 10_000;

/**
 * Who may talk to a tier (DNS-rebinding and cross-site defence).
 *
 * Host: loopback names and IPs, the bound address (every interface address when bound to 0.0.0.0 /
 * ::) and configured names. A rebinding page always arrives under its own DNS name, so this refuses it.
 *
 * Origin: the server's own origins (an allowed host name on the bound port) and configured origins.
 * `Origin: null` (sandboxed frames, file://) is never allowed.
 */
export class OriginPolicy {
  private interfaceNames: { at: number; names: Set<string> } | undefined;

  constructor(private readonly options: OriginPolicyOptions) {}

  hostAllowed(hostHeader: string | undefined): boolean {
    if (hostHeader === undefined) return false;
    const name = hostNameOfHeader(hostHeader);
    return name !== null && this.nameAllowed(name);
  }

  originAllowed(origin: string): boolean {
    if (this.isConfiguredOrigin(origin)) return true;
    const parsed = parseOrigin(origin);
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) return false;
    const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
    if (port !== this.options.port()) return false;
    const name = normalizeHostName(parsed.hostname);
    return name !== null && this.nameAllowed(name);
  }

  /** Configured origins get CORS headers; the server's own origin needs none. */
  isConfiguredOrigin(origin: string): boolean {
    const key = originKey(origin);
    if (key === null) return false;
    return (this.options.allowedOrigins?.() ?? []).some((allowed) => originKey(allowed) === key);
  }

  private nameAllowed(name: string): boolean {
    if (isLoopbackName(name)) return true;
    const bound = normalizeHostName(this.options.boundHost);
    if (bound !== null && name === bound) return true;
    if ((this.options.allowedHosts?.() ?? []).some((h) => normalizeHostName(h) === name)) return true;
    if (isUnspecified(this.options.boundHost) && isIP(name) !== 0) return this.localAddresses().has(ipaddr.process(name).toString());
    return false;
  }

  private localAddresses(): Set<string> {
    const now = Date.now();
    if (!this.interfaceNames || now - this.interfaceNames.at > INTERFACE_CACHE_MS) {
      const names = new Set<string>();
      for (const list of Object.values(networkInterfaces())) {
        for (const entry of list ?? []) {
          const bare = entry.address.split('%')[0] ?? entry.address;
          if (ipaddr.isValid(bare)) names.add(ipaddr.process(bare).toString());
        }
      }
      this.interfaceNames = { at: now, names };
    }
    return this.interfaceNames.names;
  }
}

function parseOrigin(value: string): URL | null {
  if (value === 'null') return null;
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

/** `scheme://host[:port]`, also for schemes WHATWG gives an opaque origin (the desktop's `app://rbee`). */
function originKey(value: string): string | null {
  const url = parseOrigin(value);
  return url && url.host !== '' ? `${url.protocol}//${url.host}` : null;
}
