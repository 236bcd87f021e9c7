import { z } from 'zod';

/**
 * The desktop app's own settings that the dashboard edits (Settings → Desktop app), one schema for
 * the store in main (`DesktopSettingsSchema` is built from these fields) and the form in the
 * renderer, so both refuse the same input with the same message.
 */
const PortSchema = z.number({ error: 'a whole number' }).int('a whole number').min(0, 'from 0 (any free port) to 65535').max(65_535, 'from 0 (any free port) to 65535');

/** An Electron accelerator such as `CommandOrControl+Shift+Space`; empty: no global shortcut. */
export const AcceleratorSchema = z
  .string()
  .max(64, 'at most 64 characters')
  .regex(/^$|^([A-Za-z]+\+)*[A-Za-z0-9]+$|^([A-Za-z]+\+)*(F\d{1,2}|Space|Tab|Enter|Escape|Up|Down|Left|Right|Plus|Backspace|Delete|Insert|Home|End|PageUp|PageDown)$/, 'modifiers and a key joined by +, e.g. CommandOrControl+Shift+Space');

export const DesktopPreferencesShape = {
  queen_port: PortSchema,
  hive_port: PortSchema,
  /** Null: `<data folder>/models`. */
  models_dir: z.string().min(1, 'a folder path, or empty for the default').max(4096).nullable(),
  /** Electron accelerator; empty string: no global shortcut. */
  quick_shortcut: AcceleratorSchema,
  /** Closing the dashboard window keeps the app in the tray (else it quits). */
  close_to_tray: z.boolean(),
  /** Worker processes the local hive keeps pre-started for fast (re)starts (`rbee hive --standby`). */
  warm_standby: z.number({ error: 'a whole number' }).int('a whole number').min(0, 'from 0 (off) to 8').max(8, 'from 0 (off) to 8'),
  /** Desktop notifications when a breaker opens, a worker fails or a hive becomes unreachable. */
  notifications: z.boolean(),
  /** Bind the queen to every interface (0.0.0.0) so LAN clients reach it with a key. Off: loopback only. */
  lan_exposure: z.boolean(),
  /** On the LAN, serve HTTPS with the queen's self-signed certificate (clients pin its fingerprint). */
  lan_tls: z.boolean(),
  /** The operator confirmed that, without TLS, tokens and prompts cross the LAN unencrypted. */
  lan_plain_http_confirmed: z.boolean(),
};

export const DesktopPreferencesSchema = z.object(DesktopPreferencesShape).strict();
export type DesktopPreferences = z.infer<typeof DesktopPreferencesSchema>;

export const DesktopPreferencesPatchSchema = DesktopPreferencesSchema.partial().strict();
export type DesktopPreferencesPatch = z.infer<typeof DesktopPreferencesPatchSchema>;

/** Which of them take effect only when the app starts again (the queen and hive read them at start). */
export const RESTART_PREFERENCES: ReadonlyArray<keyof DesktopPreferences> = ['queen_port', 'hive_port', 'models_dir', 'quick_shortcut', 'warm_standby', 'lan_exposure', 'lan_tls', 'lan_plain_http_confirmed'];

/** Why these LAN settings cannot be applied as they are, or null: plain HTTP on the LAN needs a confirmation. */
export function lanSettingsProblem(p: Pick<DesktopPreferences, 'lan_exposure' | 'lan_tls' | 'lan_plain_http_confirmed'>): string | null {
  return p.lan_exposure && !p.lan_tls && !p.lan_plain_http_confirmed ? 'without TLS, confirm that tokens and prompts may cross the LAN unencrypted (or turn TLS on)' : null;
}

/**
 * Where the queen binds for these settings: loopback unless LAN exposure is on and applicable (TLS on,
 * or plain HTTP confirmed); an unconfirmed plain-HTTP LAN setting stays on loopback.
 */
export function lanBinding(p: Pick<DesktopPreferences, 'lan_exposure' | 'lan_tls' | 'lan_plain_http_confirmed'>): { host: string; tls: boolean } {
  if (!p.lan_exposure || lanSettingsProblem(p) !== null) return { host: '127.0.0.1', tls: false };
  return { host: '0.0.0.0', tls: p.lan_tls };
}
