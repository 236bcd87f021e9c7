import type { ControlApi } from '../../../src-shared/control/ControlApi.js';
import type { SettingsStore } from '../settings/SettingsStore.js';
import { desktopPreferencesOf } from '../settings/desktopSettingsSchema.js';
import { DesktopPreferencesPatchSchema } from '../../../src-shared/desktop/desktopPreferences.js';

/** `user@host:port` / `host:port` / `host` → host and port. */
export function parseHiveAddress(address: string): { host: string; port: number | undefined; user: string | undefined } {
  const at = address.lastIndexOf('@');
  const user = at >= 0 ? address.slice(0, at) : undefined;
  const rest = at >= 0 ? address.slice(at + 1) : address;
  const m = /^(.*):(\d+)$/.exec(rest);
  const host = (m ? m[1] : rest)?.replace(/^\[|\]$/g, '') ?? rest;
  return { host, port: m?.[2] ? Number(m[2]) : undefined, user };
}

/**
 * The queen's ControlApi as the desktop app exposes it: identical, except that settings the
 * operator changes and remote hives they add or remove are also kept in the desktop settings
 * store, so they survive a restart of the app.
 */
export function persistingControl(control: ControlApi, settings: SettingsStore, log?: (m: string) => void): ControlApi {
  return {
    ...bindAll(control),
    async updateSettings(patch) {
      const result = await control.updateSettings(patch);
      try {
        settings.update({ audit_mode: result.audit_mode, restart_policy: { ...settings.get().restart_policy, ...result.restart_policy } });
      } catch (error) {
        log?.(`settings: could not mirror the queen's settings: ${String(error)}`);
      }
      return result;
    },
    async getDesktopPreferences() {
      return desktopPreferencesOf(settings.get());
    },
    async updateDesktopPreferences(patch) {
      // The same schema as the form (already checked by the IPC layer) and the store (checked again by update).
      const parsed = DesktopPreferencesPatchSchema.safeParse(patch);
      if (!parsed.success) throw Object.assign(new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')), { status: 400, code: 'INVALID_REQUEST' });
      const clean = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined));
      return desktopPreferencesOf(settings.update(clean));
    },
    async addHive(request) {
      const result = await control.addHive(request);
      if (result.status === 'added') {
        settings.saveHive({
          host: request.host,
          ...(request.port !== undefined ? { port: request.port } : {}),
          ...(request.user !== undefined ? { user: request.user } : {}),
          ...(request.key_file !== undefined ? { key_file: request.key_file } : {}),
          ...(request.name !== undefined ? { name: request.name } : {}),
          ...(request.trust_fingerprint !== undefined ? { trusted_fingerprint: request.trust_fingerprint } : {}),
        });
      }
      return result;
    },
    async removeHive(hiveId, options) {
      const hive = (await control.listHives()).find((h) => h.id === hiveId);
      await control.removeHive(hiveId, options);
      if (hive && hive.kind === 'remote') {
        const { host, port } = parseHiveAddress(hive.address);
        settings.forgetHive((h) => (h.host === host || h.name === hiveId) && (port === undefined || (h.port ?? 22) === port));
      }
    },
  };
}

function bindAll(control: ControlApi): ControlApi {
  return {
    getSnapshot: () => control.getSnapshot(),
    subscribe: (onEvent, onConnection) => control.subscribe(onEvent, onConnection),
    spawnWorker: (r) => control.spawnWorker(r),
    listWorkerSpecs: () => control.listWorkerSpecs(),
    createWorkerSpec: (r) => control.createWorkerSpec(r),
    getWorkerSpec: (h, w) => control.getWorkerSpec(h, w),
    replaceWorkerSpec: (h, w, r) => control.replaceWorkerSpec(h, w, r),
    deleteWorkerSpec: (h, w) => control.deleteWorkerSpec(h, w),
    stopWorker: (h, w) => control.stopWorker(h, w),
    startWorker: (h, w) => control.startWorker(h, w),
    restartWorker: (h, w) => control.restartWorker(h, w),
    resetBreaker: (h, w) => control.resetBreaker(h, w),
    getWorkerLogs: (h, w, t) => control.getWorkerLogs(h, w, t),
    listModels: () => control.listModels(),
    downloadModel: (r) => control.downloadModel(r),
    uploadModel: (r) => control.uploadModel(r),
    deleteModel: (h, n) => control.deleteModel(h, n),
    listHives: () => control.listHives(),
    addHive: (r) => control.addHive(r),
    removeHive: (h, o) => control.removeHive(h, o),
    listPools: () => control.listPools(),
    testPool: (n) => control.testPool(n),
    resetPoolBreaker: (n) => control.resetPoolBreaker(n),
    queryAudit: (q) => control.queryAudit(q),
    verifyAudit: () => control.verifyAudit(),
    getSettings: () => control.getSettings(),
    updateSettings: (p) => control.updateSettings(p),
    listKeys: () => control.listKeys(),
    createKey: (r) => control.createKey(r),
    revokeKey: (id) => control.revokeKey(id),
    revealAdminToken: () => control.revealAdminToken(),
    infer: (r, onEvent, signal) => control.infer(r, onEvent, signal),
  };
}
