import type { PoolKeyStore, StoredPoolKey } from '../../queen/pools/PoolKeyStore.js';
import type { SettingsStore } from './SettingsStore.js';

/** The settings' secret name of a pool's key. */
export const poolKeySecret = (pool: string): string => `pool_key:${pool}`;

/**
 * Pool API keys in the desktop settings, sealed with safeStorage (`SettingsStore.setSecret`): the
 * settings file holds only the sealed base64, never the key. Where the OS cannot seal (no keychain,
 * Linux `basic_text`), the key is kept in memory for this session only and the pool list says so
 * (`key_storage: session`). `legacy` is the headless file store: a key an earlier version left in
 * `<data>/pool-keys` is moved into the sealed store on first read and its file deleted (kept, and used,
 * when the OS cannot seal: deleting it would lose the key).
 */
export function settingsPoolKeyStore(settings: SettingsStore, legacy?: PoolKeyStore): PoolKeyStore {
  const sealedHere = (pool: string): boolean => settings.get().secrets[poolKeySecret(pool)] !== undefined;
  return {
    async read(pool): Promise<StoredPoolKey | undefined> {
      const key = settings.getSecret(poolKeySecret(pool));
      if (key !== null) return { key, storage: sealedHere(pool) ? 'sealed' : 'session' };
      if (sealedHere(pool)) return { key: undefined, storage: 'lost' };
      const old = await legacy?.read(pool);
      if (old?.key === undefined) return undefined;
      if (!settings.setSecret(poolKeySecret(pool), old.key)) return old;
      await legacy?.write(pool, undefined);
      return { key: old.key, storage: 'sealed' };
    },
    async write(pool, key) {
      // Whatever happens to the key, no plaintext copy of an earlier version stays behind.
      await legacy?.write(pool, undefined);
      if (key === undefined) {
        settings.deleteSecret(poolKeySecret(pool));
        return undefined;
      }
      return settings.setSecret(poolKeySecret(pool), key) ? 'sealed' : 'session';
    },
  };
}
