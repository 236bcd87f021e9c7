/**
 * Checklist item 17: every IPC message is checked against where it came from. A sender is trusted
 * when its frame is the top frame of one of our own windows and its URL is our app origin
 * (`app://rbee/…`), or — in development only — the electron-vite dev server on loopback.
 */
export interface SenderPolicy {
  /** Origins the renderer is served from, e.g. `app://rbee`; dev adds `http://localhost:5173`. */
  readonly origins: readonly string[];
  /** True for webContents ids of windows the shell created (dashboard, quick inference). */
  isOwnWebContents(id: number): boolean;
}

export interface SenderLike {
  readonly id: number;
}

export interface SenderFrameLike {
  readonly url: string;
  /** The parent frame; null for a top-level frame. */
  readonly parent: unknown;
}

export function originOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    // Custom standard schemes report origin "null" in WHATWG URL; rebuild it.
    if (parsed.origin !== 'null') return parsed.origin;
    return parsed.host ? `${parsed.protocol}//${parsed.host}` : null;
  } catch {
    return null;
  }
}

export function isTrustedSender(policy: SenderPolicy, sender: SenderLike, frame: SenderFrameLike | null | undefined): boolean {
  if (!frame) return false;
  if (frame.parent !== null && frame.parent !== undefined) return false;
  if (!policy.isOwnWebContents(sender.id)) return false;
  const origin = originOf(frame.url);
  return origin !== null && policy.origins.includes(origin);
}
