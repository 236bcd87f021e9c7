import type { WorkerSpec } from '../../../src-shared/control/controlSchemas.js';
import type { WorkerSpecStore } from '../../queen/specs/WorkerSpecStore.js';
import type { SettingsStore } from './SettingsStore.js';

/** The queen's declared workers kept in the desktop settings (electron-store), next to the saved hives. */
export function settingsWorkerSpecStore(settings: SettingsStore): WorkerSpecStore {
  return {
    load: async () => settings.get().worker_specs,
    save: async (specs: readonly WorkerSpec[]) => {
      settings.update({ worker_specs: [...specs] });
    },
  };
}
