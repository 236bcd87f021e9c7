/** The web-mode API token lives in sessionStorage only (gone when the tab closes). */
const KEY = 'rbee.apiToken';

function storage(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null;
  }
}

export function readToken(): string | null {
  return storage()?.getItem(KEY) ?? null;
}

export function writeToken(token: string): void {
  storage()?.setItem(KEY, token);
}

export function clearToken(): void {
  storage()?.removeItem(KEY);
}

/** `token:<first 6 hex of SHA-256>`, as every tier names a token (DESIGN §3). Null without WebCrypto. */
export async function tokenFingerprint(token: string): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  const digest = await subtle.digest('SHA-256', new TextEncoder().encode(token));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  return `token:${hex.slice(0, 6)}`;
}
