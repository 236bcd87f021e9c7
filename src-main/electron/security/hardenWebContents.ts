/** The part of WebContents the hardening uses. */
export interface HardenableWebContents {
  on(event: 'will-navigate' | 'will-redirect', listener: (event: { preventDefault(): void; url: string }, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

export interface HardenOptions {
  /** Called for blocked navigations and pop-ups (logged; never opened externally — checklist 15). */
  onBlocked?: (what: { kind: 'navigate' | 'redirect' | 'window' | 'webview'; url: string }) => void;
}

/**
 * Checklist 11–15 for any WebContents (installed from `app.on('web-contents-created')`, so it also
 * covers contents we did not create ourselves): no navigation away from the loaded page (the
 * dashboard routes with the URL hash, which is not a navigation), no redirects, no new windows and
 * no `<webview>`. Nothing is handed to `shell.openExternal`.
 */
export function hardenWebContents(contents: HardenableWebContents, options: HardenOptions = {}): void {
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    options.onBlocked?.({ kind: 'navigate', url: url ?? event.url });
  });
  contents.on('will-redirect', (event, url) => {
    event.preventDefault();
    options.onBlocked?.({ kind: 'redirect', url: url ?? event.url });
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    options.onBlocked?.({ kind: 'webview', url: '' });
  });
  contents.setWindowOpenHandler(({ url }) => {
    options.onBlocked?.({ kind: 'window', url });
    return { action: 'deny' };
  });
}
