import type { SealedSecret } from './desktopSettingsSchema.js';

/** The part of Electron's `safeStorage` used here. */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only: 'basic_text' means no keyring — a hard-coded key, i.e. no real protection. */
  getSelectedStorageBackend?(): string;
}

export class SecretUnavailableError extends Error {
  override readonly name = 'SecretUnavailableError';
}

/**
 * Seals secrets (API tokens, SSH key passphrases) with safeStorage before they reach the settings
 * file. When the OS offers no real protection — encryption unavailable, or Linux's `basic_text`
 * fallback without a keyring — nothing is sealed and nothing is stored: callers keep the secret in
 * memory for this session only and say so. Plaintext never reaches disk.
 */
export class SecretSealer {
  constructor(private readonly safeStorage: SafeStorageLike) {}

  /** Why secrets cannot be persisted, or null when they can. */
  unavailableReason(): string | null {
    if (!this.safeStorage.isEncryptionAvailable()) return 'OS encryption (safeStorage) is not available';
    const backend = this.safeStorage.getSelectedStorageBackend?.();
    if (backend === 'basic_text') return 'no keyring (safeStorage backend basic_text stores secrets with a fixed key)';
    return null;
  }

  canSeal(): boolean {
    return this.unavailableReason() === null;
  }

  seal(plaintext: string): SealedSecret {
    const reason = this.unavailableReason();
    if (reason) throw new SecretUnavailableError(`Cannot store a secret: ${reason}`);
    return { sealed: 'safeStorage', data: this.safeStorage.encryptString(plaintext).toString('base64') };
  }

  /** Null when the OS can no longer open it (keychain reset, another user or machine). */
  open(sealed: SealedSecret): string | null {
    if (!this.safeStorage.isEncryptionAvailable()) return null;
    try {
      return this.safeStorage.decryptString(Buffer.from(sealed.data, 'base64'));
    } catch {
      return null;
    }
  }

  trySeal(plaintext: string): SealedSecret | null {
    return this.canSeal() ? this.seal(plaintext) : null;
  }
}
