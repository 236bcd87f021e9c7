// @vitest-environment jsdom
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import type { DesktopPreferences, DesktopPreferencesPatch } from '../../src-shared/desktop/desktopPreferences.js';
import { installApi } from '../../src-renderer/bridge/apiRegistry.js';
import { DesktopSettingsCard, desktopPatch, parseDesktopDraft } from '../../src-renderer/views/DesktopSettingsCard.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const LAN_OFF = { lan_exposure: false, lan_tls: true, lan_plain_http_confirmed: false };
const PREFS: DesktopPreferences = { queen_port: 7833, hive_port: 7835, models_dir: null, quick_shortcut: 'CommandOrControl+Shift+Space', close_to_tray: true, warm_standby: 1, notifications: true, ...LAN_OFF };

let container: HTMLDivElement;
let root: Root;
beforeEach(() => {
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
});
afterEach(() => {
  act(() => root.unmount());
  container.remove();
});

function type(el: Element | null, value: string) {
  if (!(el instanceof HTMLInputElement)) throw new Error('not an input');
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(el, value);
  el.dispatchEvent(new Event('input', { bubbles: true }));
}
const byLabel = (text: string) => {
  const label = [...container.querySelectorAll('label')].find((l) => l.textContent?.trim() === text);
  return label ? document.getElementById(label.htmlFor) : null;
};
const flush = () => act(async () => new Promise((r) => setTimeout(r, 0)));

describe('desktop settings (the store schema in the form)', () => {
  it('parses the draft with the shared schema: ports, standby and shortcut refused with the schema messages', () => {
    const bad = parseDesktopDraft({ queen_port: '70000', hive_port: 'x', models_dir: '', quick_shortcut: 'Ctrl+Shift+Space+', close_to_tray: true, warm_standby: '9', notifications: true, ...LAN_OFF });
    expect(bad).toEqual({
      ok: false,
      errors: { queen_port: 'from 0 (any free port) to 65535', hive_port: 'a whole number', quick_shortcut: expect.stringContaining('modifiers and a key'), warm_standby: 'from 0 (off) to 8' },
    });
    const good = parseDesktopDraft({ queen_port: '0', hive_port: '7835', models_dir: ' /srv/models ', quick_shortcut: '', close_to_tray: false, warm_standby: '0', notifications: false, ...LAN_OFF });
    expect(good).toEqual({ ok: true, value: { queen_port: 0, hive_port: 7835, models_dir: '/srv/models', quick_shortcut: '', close_to_tray: false, warm_standby: 0, notifications: false, ...LAN_OFF } });
    expect(desktopPatch(PREFS, { ...PREFS, warm_standby: 2 })).toEqual({ warm_standby: 2 });
  });

  it('LAN exposure without TLS needs the plain-HTTP confirmation; with TLS it does not', () => {
    const draft = { queen_port: '7833', hive_port: '7835', models_dir: '', quick_shortcut: '', close_to_tray: true, warm_standby: '1', notifications: true };
    const plain = parseDesktopDraft({ ...draft, lan_exposure: true, lan_tls: false, lan_plain_http_confirmed: false });
    expect(plain).toEqual({ ok: false, errors: { lan_plain_http_confirmed: expect.stringContaining('unencrypted') } });
    expect(parseDesktopDraft({ ...draft, lan_exposure: true, lan_tls: false, lan_plain_http_confirmed: true }).ok).toBe(true);
    expect(parseDesktopDraft({ ...draft, lan_exposure: true, lan_tls: true, lan_plain_http_confirmed: false }).ok).toBe(true);
  });

  it('shows nothing over HTTP (no desktop settings there)', async () => {
    installApi({} as ControlApi, 'http');
    act(() => root.render(<DesktopSettingsCard />));
    await flush();
    expect(container.textContent).toBe('');
  });

  it('refuses an invalid port with a message tied to the field and focus on it; saves only the changed fields', async () => {
    const updateDesktopPreferences = vi.fn(async (patch: DesktopPreferencesPatch) => ({ ...PREFS, ...patch }));
    installApi({ getDesktopPreferences: async () => PREFS, updateDesktopPreferences } as unknown as ControlApi, 'ipc');
    act(() => root.render(<DesktopSettingsCard />));
    await flush();
    const port = byLabel('Queen port') as HTMLInputElement;
    expect(port.value).toBe('7833');
    act(() => type(port, '99999'));
    const save = [...container.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Save desktop settings')!;
    await act(async () => save.click());
    expect(updateDesktopPreferences).not.toHaveBeenCalled();
    const error = document.getElementById(`${port.id}-error`);
    expect(error?.textContent).toBe('from 0 (any free port) to 65535');
    expect(port.getAttribute('aria-describedby')).toContain(`${port.id}-error`);
    expect(document.activeElement).toBe(port);

    act(() => type(port, '7900'));
    const closeToTray = [...container.querySelectorAll('label')].find((l) => l.textContent?.includes('keeps rbee running'))!.querySelector('input')!;
    act(() => closeToTray.click());
    await act(async () => save.click());
    await flush();
    expect(updateDesktopPreferences).toHaveBeenCalledWith({ queen_port: 7900, close_to_tray: false });
    expect(container.textContent).toContain('apply when rbee starts again');
  });
});
