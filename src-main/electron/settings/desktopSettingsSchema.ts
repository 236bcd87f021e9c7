import { z } from 'zod';
import { WorkerSpecSchema } from '../../../src-shared/control/controlSchemas.js';
import { DesktopPreferencesShape, type DesktopPreferences } from '../../../src-shared/desktop/desktopPreferences.js';
import { DEFAULT_RESTART_POLICY as SHARED_DEFAULT_RESTART_POLICY, RestartPolicySchema } from '../../../src-shared/policy/RestartPolicyConfig.js';

/** Current layout of the desktop settings file. Bump with a migration in `migrateSettings`. */
export const SETTINGS_SCHEMA_VERSION = 1;

/** A secret sealed with Electron's safeStorage (OS keychain / DPAPI / libsecret), base64. */
export const SealedSecretSchema = z.object({ sealed: z.literal('safeStorage'), data: z.string().min(1) }).strict();
export type SealedSecret = z.infer<typeof SealedSecretSchema>;

/** DESIGN §3 restart policy defaults: the one definition in src-shared (never a copy that drifts). */
export const DEFAULT_RESTART_POLICY: z.infer<typeof RestartPolicySchema> = { ...SHARED_DEFAULT_RESTART_POLICY };

/** A remote hive the operator added; re-added on start. Its SSH key passphrase lives in `secrets`. */
export const SavedHiveSchema = z
  .object({
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65_535).optional(),
    user: z.string().min(1).max(64).optional(),
    key_file: z.string().min(1).max(4096).optional(),
    name: z.string().min(1).max(64).optional(),
    /** The host key the operator trusted (SHA256:…). */
    trusted_fingerprint: z.string().max(128).optional(),
  })
  .strict();
export type SavedHive = z.infer<typeof SavedHiveSchema>;

export const WindowStateSchema = z
  .object({
    x: z.number().int().optional(),
    y: z.number().int().optional(),
    width: z.number().int().min(400).max(10_000),
    height: z.number().int().min(300).max(10_000),
    maximized: z.boolean(),
  })
  .strict();
export type WindowState = z.infer<typeof WindowStateSchema>;

export const DesktopSettingsSchema = z
  .object({
    schema_version: z.literal(SETTINGS_SCHEMA_VERSION),
    /** Set once first-run setup (demo model, tokens, audit) has completed. */
    first_run_completed: z.boolean(),
    queen_port: DesktopPreferencesShape.queen_port,
    hive_port: DesktopPreferencesShape.hive_port,
    audit_mode: z.enum(['disabled', 'local']),
    /** Null: `<data folder>/models`. */
    models_dir: DesktopPreferencesShape.models_dir,
    /** Start a worker for the generated demo model. */
    demo_model: z.boolean(),
    /** The one restart-policy schema (src-shared): the file holds a whole, valid policy. */
    restart_policy: RestartPolicySchema,
    hives: z.array(SavedHiveSchema).max(256),
    /** The queen's declared workers (its `WorkerSpecStore` in the app; headless: `<data>/worker-specs.json`). */
    worker_specs: z.array(WorkerSpecSchema).max(1024),
    /** The fields the dashboard edits: one schema with the form (src-shared/desktop/desktopPreferences.ts). */
    quick_shortcut: DesktopPreferencesShape.quick_shortcut,
    notifications: DesktopPreferencesShape.notifications,
    close_to_tray: DesktopPreferencesShape.close_to_tray,
    warm_standby: DesktopPreferencesShape.warm_standby,
    lan_exposure: DesktopPreferencesShape.lan_exposure,
    lan_tls: DesktopPreferencesShape.lan_tls,
    lan_plain_http_confirmed: DesktopPreferencesShape.lan_plain_http_confirmed,
    window: WindowStateSchema,
    /** Sealed secrets by name: `api_token`, `ssh_passphrase:<host>`. Never plaintext. */
    secrets: z.record(z.string().min(1).max(300), SealedSecretSchema),
  })
  .strict();

export type DesktopSettings = z.infer<typeof DesktopSettingsSchema>;

export function defaultDesktopSettings(): DesktopSettings {
  return {
    schema_version: SETTINGS_SCHEMA_VERSION,
    first_run_completed: false,
    queen_port: 7833,
    hive_port: 7835,
    audit_mode: 'local',
    models_dir: null,
    demo_model: true,
    restart_policy: { ...DEFAULT_RESTART_POLICY },
    hives: [],
    worker_specs: [],
    quick_shortcut: 'CommandOrControl+Shift+Space',
    notifications: true,
    close_to_tray: true,
    warm_standby: 1,
    lan_exposure: false,
    lan_tls: true,
    lan_plain_http_confirmed: false,
    window: { width: 1200, height: 800, maximized: false },
    secrets: {},
  };
}

/** The part of the settings the dashboard shows and edits. */
export function desktopPreferencesOf(s: DesktopSettings): DesktopPreferences {
  return {
    queen_port: s.queen_port,
    hive_port: s.hive_port,
    models_dir: s.models_dir,
    quick_shortcut: s.quick_shortcut,
    close_to_tray: s.close_to_tray,
    warm_standby: s.warm_standby,
    notifications: s.notifications,
    lan_exposure: s.lan_exposure,
    lan_tls: s.lan_tls,
    lan_plain_http_confirmed: s.lan_plain_http_confirmed,
  };
}
