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
};

export const DesktopPreferencesSchema = z.object(DesktopPreferencesShape).strict();
export type DesktopPreferences = z.infer<typeof DesktopPreferencesSchema>;

export const DesktopPreferencesPatchSchema = DesktopPreferencesSchema.partial().strict();
export type DesktopPreferencesPatch = z.infer<typeof DesktopPreferencesPatchSchema>;

/** Which of them take effect only when the app starts again (the queen and hive read them at start). */
export const RESTART_PREFERENCES: ReadonlyArray<keyof DesktopPreferences> = ['queen_port', 'hive_port', 'models_dir', 'quick_shortcut', 'warm_standby'];
