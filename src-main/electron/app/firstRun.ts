import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tokenFingerprint } from '../../auth/tokenFingerprint.js';
import { demoModelPath, ensureTinyModel } from '../../models/ensureTinyModel.js';
import type { SettingsStore } from '../settings/SettingsStore.js';

export const API_TOKEN_SECRET = 'api_token';

export interface FirstRunOptions {
  settings: SettingsStore;
  /** The app's data folder (`<userData>/rbee`): models, audit log, queen state. */
  dataDir: string;
  /** Defaults to writing the tiny GGUF demo model. */
  ensureDemoModel?: (path: string) => Promise<string>;
  /** Defaults to 32 random bytes, base64url (43 characters). */
  generateToken?: () => string;
  log?: (message: string) => void;
}

export interface FirstRunResult {
  /** True when this launch did the first-run setup. */
  firstRun: boolean;
  apiToken: string;
  /** False when the OS could not seal it: the token lives for this session only. */
  tokenPersisted: boolean;
  modelsDir: string;
  demoModel: string | null;
}

export function modelsDirOf(settings: SettingsStore, dataDir: string): string {
  return settings.get().models_dir ?? join(dataDir, 'models');
}

/**
 * Prepares a launch. The first time: writes the demo model into the models folder, creates the
 * queen's API token (sealed with safeStorage), turns the local audit log on in the data folder.
 * Every time: makes sure the folders and a token exist.
 */
export async function prepareLaunch(options: FirstRunOptions): Promise<FirstRunResult> {
  const { settings, dataDir } = options;
  const generate = options.generateToken ?? (() => randomBytes(32).toString('base64url'));
  const ensureDemo = options.ensureDemoModel ?? ((path: string) => ensureTinyModel(path));
  const firstRun = !settings.get().first_run_completed;
  const modelsDir = modelsDirOf(settings, dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await mkdir(modelsDir, { recursive: true });

  let apiToken = settings.getSecret(API_TOKEN_SECRET);
  let tokenPersisted = apiToken !== null && settings.get().secrets[API_TOKEN_SECRET] !== undefined;
  if (apiToken === null) {
    apiToken = generate();
    tokenPersisted = settings.setSecret(API_TOKEN_SECRET, apiToken);
    options.log?.(`created API token ${tokenFingerprint(apiToken)}${tokenPersisted ? '' : ' (this session only: the OS cannot seal secrets)'}`);
  }

  let demoModel: string | null = null;
  if (firstRun || settings.get().demo_model) demoModel = await ensureDemo(demoModelPath(modelsDir));

  if (firstRun) {
    await mkdir(join(dataDir, 'audit'), { recursive: true, mode: 0o700 });
    settings.update({ audit_mode: 'local', demo_model: true, first_run_completed: true });
    options.log?.('first run: demo model written, API token created, local audit enabled');
  }
  return { firstRun, apiToken, tokenPersisted, modelsDir, demoModel };
}
