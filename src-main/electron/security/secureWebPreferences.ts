import type { WebPreferences } from 'electron';

/** The flags that must hold; `enableBlinkFeatures` must be absent. */
export const REQUIRED_WEB_PREFERENCES = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  nodeIntegrationInSubFrames: false,
  webSecurity: true,
  allowRunningInsecureContent: false,
  experimentalFeatures: false,
  webviewTag: false,
} as const satisfies Partial<WebPreferences>;

/**
 * The web preferences every rbee BrowserWindow gets (checklist 2–4, 6, 8–11). Windows are only
 * created through `secureWindowOptions`, and `assertSecureWebPreferences` re-checks the result, so
 * a later edit that weakens one flag fails the tests rather than shipping.
 */
export function secureWebPreferences(preloadPath: string): WebPreferences {
  return {
    preload: preloadPath,
    ...REQUIRED_WEB_PREFERENCES,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
    devTools: true,
  };
}

export class InsecureWindowError extends Error {
  override readonly name = 'InsecureWindowError';
}

export function assertSecureWebPreferences(prefs: WebPreferences | undefined): void {
  if (!prefs) throw new InsecureWindowError('A window without webPreferences would get Electron defaults');
  for (const [key, want] of Object.entries(REQUIRED_WEB_PREFERENCES)) {
    const got = (prefs as Record<string, unknown>)[key];
    if (got !== want) throw new InsecureWindowError(`webPreferences.${key} must be ${String(want)}, got ${String(got)}`);
  }
  if (prefs.enableBlinkFeatures) throw new InsecureWindowError('enableBlinkFeatures must not be set');
  if (!prefs.preload) throw new InsecureWindowError('Every rbee window needs the rbee preload');
}
