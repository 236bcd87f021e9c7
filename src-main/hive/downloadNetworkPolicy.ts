import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Where a hive may download models from (SSRF defence; docs/hive.md "Downloads"). */
export interface DownloadNetworkPolicy {
  /** 127.0.0.0/8, ::1. Refused by default; tests and local mirrors turn it on. */
  allowLoopback: boolean;
  /** RFC 1918, 100.64/10 (CGNAT, Tailscale), fc00::/7. Allowed by default: a NAS is a normal source. */
  allowPrivate: boolean;
}

/** `1`: model downloads may reach loopback (the queen's downloads_allow_loopback setting → its local hive). */
export const DOWNLOAD_ALLOW_LOOPBACK_ENV = 'RBEE_DOWNLOAD_ALLOW_LOOPBACK';
/** `0`: model downloads may not reach private LAN addresses (the queen's downloads_allow_private setting). */
export const DOWNLOAD_ALLOW_PRIVATE_ENV = 'RBEE_DOWNLOAD_ALLOW_PRIVATE';

export const DEFAULT_DOWNLOAD_NETWORK_POLICY: DownloadNetworkPolicy = { allowLoopback: false, allowPrivate: true };

/** Cloud metadata endpoints, refused whatever the policy (some sit in ranges that are otherwise allowed). */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200']);

/** Ranges never fetched from: they reach this machine's own services or nothing useful. */
const ALWAYS_REFUSED = new Set(['unspecified', 'broadcast', 'multicast', 'linkLocal', 'reserved', 'rfc6052', 'rfc6145', '6to4', 'teredo', 'benchmarking', 'amt', 'as112v6', 'deprecated', 'orchid2']);

/** Why `address` may not be fetched from, or null when it may. */
export function refusalForAddress(address: string, policy: DownloadNetworkPolicy): string | null {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare) || isIP(bare) === 0) return `'${bare.slice(0, 64)}' is not an IP address`;
  const parsed = ipaddr.process(bare); // ::ffff:a.b.c.d is judged as a.b.c.d
  const normalized = parsed.toString();
  if (METADATA_ADDRESSES.has(normalized)) return `${normalized} is a cloud metadata address`;
  const range = parsed.range();
  if (ALWAYS_REFUSED.has(range)) return `${normalized} is a ${range} address`;
  if (range === 'loopback' && !policy.allowLoopback) return `${normalized} is a loopback address (allow it with the downloads_allow_loopback setting)`;
  if ((range === 'private' || range === 'uniqueLocal' || range === 'carrierGradeNat') && !policy.allowPrivate) {
    return `${normalized} is a private-network address (downloads_allow_private is off)`;
  }
  return null;
}

export class DownloadRefusedError extends Error {
  override readonly name = 'DownloadRefusedError';
  readonly code = 'EDOWNLOADREFUSED';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for the download connections: resolves the name and refuses the connection if ANY
 * address it resolves to is refused (a name that answers with both a public and a private address
 * is a rebinding attempt). The address checked is the address connected to: no second resolution.
 */
export function guardedLookup(policy: DownloadNetworkPolicy): LookupFunction {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    const requested = options.family;
    const family = requested === 'IPv4' ? 4 : requested === 'IPv6' ? 6 : (requested ?? 0);
    dnsLookup(hostname, { all: true, family }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const entry of addresses) {
        const refusal = refusalForAddress(entry.address, policy);
        if (refusal) return callback(new DownloadRefusedError(`refusing to download from ${hostname}: ${refusal}`), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

/** The refusal for a URL whose host is an IP literal (connections to those skip `lookup`), else null. */
export function refusalForUrlHost(url: URL, policy: DownloadNetworkPolicy): string | null {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) === 0) {
    // A name: checked at connect time by guardedLookup. `localhost` never needs DNS to be refused.
    if ((host === 'localhost' || host.endsWith('.localhost')) && !policy.allowLoopback) return `${host} is a loopback name`;
    return null;
  }
  return refusalForAddress(host, policy);
}
