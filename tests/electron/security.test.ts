import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { APP_CSP } from '../../src-main/electron/security/contentSecurityPolicy.js';
import { appUrl, createAppProtocolHandler, resolveAppRequestPath } from '../../src-main/electron/security/appProtocol.js';
import { hardenWebContents, type HardenableWebContents } from '../../src-main/electron/security/hardenWebContents.js';
import { applyPermissionPolicy, isPermissionAllowed } from '../../src-main/electron/security/permissionPolicy.js';
import { assertSecureWebPreferences, InsecureWindowError, REQUIRED_WEB_PREFERENCES, secureWebPreferences } from '../../src-main/electron/security/secureWebPreferences.js';
import { ShellWindows } from '../../src-main/electron/windows/ShellWindows.js';
import { fakeWindowFactory } from './fakes.js';

describe('every BrowserWindow gets the security flags', () => {
  it('dashboard and quick-inference windows are created with the secure webPreferences', () => {
    const { createWindow, windows } = fakeWindowFactory();
    const shell = new ShellWindows({ createWindow, preloadPath: '/app/out/preload/index.cjs', windowState: { width: 1000, height: 700, maximized: false }, saveWindowState: () => undefined });
    shell.showDashboard();
    shell.showQuick();
    expect(windows).toHaveLength(2);
    for (const win of windows) {
      const prefs = win.options.webPreferences;
      expect(prefs).toMatchObject(REQUIRED_WEB_PREFERENCES);
      expect(prefs?.preload).toBe('/app/out/preload/index.cjs');
      expect(prefs?.enableBlinkFeatures).toBeUndefined();
      expect(prefs?.allowRunningInsecureContent).toBe(false);
      // Only our own origin is loaded (checklist 1, 18): no remote URLs.
      for (const url of win.loaded) expect(url.startsWith('app://rbee/')).toBe(true);
    }
    expect(windows[0]?.loaded).toEqual([appUrl('/')]);
    expect(windows[1]?.loaded).toEqual(['app://rbee/index.html#/quick']);
  });

  it('the quick-inference popup is frameless and closes on Esc', () => {
    const { createWindow, windows } = fakeWindowFactory();
    const shell = new ShellWindows({ createWindow, preloadPath: '/p.cjs', windowState: { width: 1000, height: 700, maximized: false }, saveWindowState: () => undefined });
    shell.showQuick();
    const quick = windows[0];
    expect(quick?.options).toMatchObject({ frame: false, alwaysOnTop: true, skipTaskbar: true, resizable: false });
    expect(quick?.visible).toBe(true);
    expect(quick?.pressKey('a')).toBe(false);
    expect(quick?.visible).toBe(true);
    // The page still gets the key (it cancels and clears); the window hides.
    expect(quick?.pressKey('Escape')).toBe(false);
    expect(quick?.visible).toBe(false);
  });

  it('assertSecureWebPreferences refuses any weakened flag', () => {
    const good = secureWebPreferences('/p.cjs');
    expect(() => assertSecureWebPreferences(good)).not.toThrow();
    const weakenings: Array<Record<string, unknown>> = [
      { contextIsolation: false },
      { sandbox: false },
      { nodeIntegration: true },
      { nodeIntegrationInSubFrames: true },
      { nodeIntegrationInWorker: true },
      { webSecurity: false },
      { allowRunningInsecureContent: true },
      { experimentalFeatures: true },
      { webviewTag: true },
      { enableBlinkFeatures: 'CSSPseudoHas' },
      { preload: undefined },
    ];
    for (const w of weakenings) expect(() => assertSecureWebPreferences({ ...good, ...w })).toThrow(InsecureWindowError);
    expect(() => assertSecureWebPreferences(undefined)).toThrow(InsecureWindowError);
  });
});

describe('navigation, new windows and webviews are blocked (checklist 11–15)', () => {
  it('prevents navigation, redirects and webviews, and denies window.open', () => {
    const handlers = new Map<string, (event: { preventDefault(): void; url: string }, url: string) => void>();
    let openHandler: ((d: { url: string }) => { action: 'deny' }) | undefined;
    const contents = {
      on: (event: string, listener: (event: { preventDefault(): void; url: string }, url: string) => void) => {
        handlers.set(event, listener);
      },
      setWindowOpenHandler: (h: (d: { url: string }) => { action: 'deny' }) => {
        openHandler = h;
      },
    } as unknown as HardenableWebContents;
    const blocked = vi.fn();
    hardenWebContents(contents, { onBlocked: blocked });
    for (const event of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      const preventDefault = vi.fn();
      handlers.get(event)?.({ preventDefault, url: 'https://evil.example/' }, 'https://evil.example/');
      expect(preventDefault).toHaveBeenCalled();
    }
    expect(openHandler?.({ url: 'https://evil.example/' })).toEqual({ action: 'deny' });
    expect(blocked).toHaveBeenCalledTimes(4);
  });
});

describe('permissions (checklist 5)', () => {
  it('denies everything except clipboard writes from our own origin', () => {
    const origins = ['app://rbee'];
    for (const p of ['media', 'geolocation', 'notifications', 'midi', 'hid', 'serial', 'fullscreen', 'openExternal', 'clipboard-read', 'pointerLock', 'display-capture']) {
      expect(isPermissionAllowed(p, 'app://rbee/index.html', origins)).toBe(false);
    }
    expect(isPermissionAllowed('clipboard-sanitized-write', 'app://rbee/index.html#/quick', origins)).toBe(true);
    expect(isPermissionAllowed('clipboard-sanitized-write', 'https://evil.example/', origins)).toBe(false);
    expect(isPermissionAllowed('clipboard-sanitized-write', undefined, origins)).toBe(false);
  });

  it('installs both the request and the check handler on the session', () => {
    let request: ((wc: unknown, p: string, cb: (g: boolean) => void, d: { requestingUrl?: string }) => void) | null = null;
    let check: ((wc: unknown, p: string, origin: string) => boolean) | null = null;
    applyPermissionPolicy(
      {
        setPermissionRequestHandler: (h) => {
          request = h;
        },
        setPermissionCheckHandler: (h) => {
          check = h;
        },
      },
      ['app://rbee'],
    );
    const cb = vi.fn();
    request!({}, 'media', cb, { requestingUrl: 'app://rbee/index.html' });
    expect(cb).toHaveBeenCalledWith(false);
    expect(check!({}, 'notifications', 'app://rbee')).toBe(false);
    expect(check!({}, 'clipboard-sanitized-write', 'app://rbee')).toBe(true);
  });
});

describe('app:// protocol and CSP (checklist 7, 18)', () => {
  const root = mkdtempSync(join(tmpdir(), 'rbee-renderer-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>rbee</title>');
  writeFileSync(join(root, 'assets', 'app.js'), 'console.log(1)');
  const handler = createAppProtocolHandler(root, { readFile: (p) => readFile(p) });

  it('resolves only files under the renderer folder', () => {
    expect(resolveAppRequestPath('app://rbee/', root)).toBe(join(root, 'index.html'));
    expect(resolveAppRequestPath('app://rbee/assets/app.js', root)).toBe(join(root, 'assets', 'app.js'));
    // URL parsing already folds literal '..' segments: what is left stays inside the root.
    expect(resolveAppRequestPath('app://rbee/../../etc/passwd', root)).toBe(join(root, 'etc', 'passwd'));
    expect(resolveAppRequestPath('app://rbee/%2e%2e/%2e%2e/etc/passwd', root)).toBe(join(root, 'etc', 'passwd'));
    for (const url of [
      'app://rbee/assets/..%2f..%2f..%2fetc%2fpasswd',
      'app://rbee/a%5c..%5c..%5cx',
      'app://rbee/a%00b',
      'app://other/index.html',
      'file:///etc/passwd',
      'https://rbee/index.html',
      'not a url',
    ]) {
      expect(resolveAppRequestPath(url, root), url).toBeNull();
    }
  });

  it('serves files with the CSP header and the right type; 404 for anything else', async () => {
    const ok = await handler({ url: 'app://rbee/index.html#/quick', method: 'GET' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toBe(APP_CSP);
    expect(ok.headers.get('content-type')).toContain('text/html');
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await ok.text()).toContain('<title>rbee</title>');
    const js = await handler({ url: 'app://rbee/assets/app.js', method: 'GET' });
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect((await handler({ url: 'app://rbee/missing.js', method: 'GET' })).status).toBe(404);
    expect((await handler({ url: 'app://rbee/%2e%2e/secret', method: 'GET' })).status).toBe(404);
    expect((await handler({ url: 'app://rbee/index.html', method: 'POST' })).status).toBe(405);
  });

  it('the CSP allows nothing remote and no inline or eval script', () => {
    expect(APP_CSP).toContain("default-src 'none'");
    expect(APP_CSP).toContain("script-src 'self'");
    expect(APP_CSP).not.toContain('unsafe-inline');
    expect(APP_CSP).not.toContain('unsafe-eval');
    expect(APP_CSP).not.toMatch(/https?:|\*/);
    expect(APP_CSP).toContain("object-src 'none'");
  });
});
