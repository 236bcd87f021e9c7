import { originOf } from '../ipc/senderPolicy.js';

/** The part of a Session the permission policy uses. */
export interface PermissionSession {
  setPermissionRequestHandler(
    handler: ((webContents: unknown, permission: string, callback: (granted: boolean) => void, details: { requestingUrl?: string }) => void) | null,
  ): void;
  setPermissionCheckHandler(handler: ((webContents: unknown, permission: string, requestingOrigin: string) => boolean) | null): void;
}

/**
 * The single permission rbee's own pages may use: writing text to the clipboard, for the quick
 * inference popup's copy button (`navigator.clipboard.writeText` asks for it). Everything else —
 * camera, microphone, notifications, geolocation, MIDI, HID, serial, fullscreen, … — is denied,
 * and every permission is denied to any other origin (checklist 5).
 */
export const ALLOWED_PERMISSIONS: ReadonlySet<string> = new Set(['clipboard-sanitized-write']);

export function isPermissionAllowed(permission: string, requestingUrl: string | undefined, appOrigins: readonly string[]): boolean {
  if (!ALLOWED_PERMISSIONS.has(permission)) return false;
  const origin = requestingUrl ? originOf(requestingUrl) : null;
  return origin !== null && appOrigins.includes(origin);
}

export function applyPermissionPolicy(session: PermissionSession, appOrigins: readonly string[]): void {
  session.setPermissionRequestHandler((_wc, permission, callback, details) => {
    callback(isPermissionAllowed(permission, details.requestingUrl, appOrigins));
  });
  session.setPermissionCheckHandler((_wc, permission, requestingOrigin) => isPermissionAllowed(permission, requestingOrigin, appOrigins));
}
