// The app's Hugging Face token (for gated or private repos): kept encrypted in <userData>/hub-token.bin
// by a SecretBox the shell passes in (Electron's safeStorage in the app, a stand-in in tests), so this
// file needs no Electron. Only whether a token is set ever leaves the main process; the token itself
// goes only to the converter process that downloads, and is never logged.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { AppError } from '../../src/shared/errors.ts';

/** Encrypts small secrets with the OS keyring (Electron's safeStorage in the app). */
export interface SecretBox {
  /** Whether secrets can be encrypted now (false without a real keyring). */
  available(): Promise<boolean>;
  encrypt(plain: string): Promise<Uint8Array>;
  decrypt(sealed: Uint8Array): Promise<string>;
}

export const TOKEN_FILE = 'hub-token.bin';

export class HubTokenStore {
  constructor(private readonly file: string, private readonly box: SecretBox | undefined) {}

  /** A token is stored (without decrypting it). */
  isSet(): boolean {
    return existsSync(this.file);
  }

  /** Whether a token can be stored encrypted on this system. */
  async canStore(): Promise<boolean> {
    return this.box ? this.box.available().catch(() => false) : false;
  }

  /** Stores (encrypted) or clears the token. Refuses to store it unencrypted. */
  async set(token: string | null): Promise<void> {
    if (token === null) {
      await rm(this.file, { force: true });
      return;
    }
    if (!this.box || !(await this.canStore())) {
      throw new AppError('io_error', 'this system offers no keyring to encrypt the token with, so it was not saved (Linux: unlock or install GNOME Keyring or KWallet); the command line reads HF_TOKEN instead');
    }
    const sealed = await this.box.encrypt(token);
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, sealed, { mode: 0o600 });
      await rename(tmp, this.file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new AppError('io_error', `cannot save the Hub token: ${(err as Error).message}`, { file: this.file });
    }
  }

  /** The token, or undefined when none is set; throws hub_auth_required when it cannot be decrypted. */
  async get(): Promise<string | undefined> {
    if (!this.isSet()) return undefined;
    const sealed = await readFile(this.file).catch(() => undefined);
    if (!sealed || !this.box) return undefined;
    try {
      return await this.box.decrypt(new Uint8Array(sealed));
    } catch {
      throw new AppError('hub_auth_required', 'the stored Hub token cannot be decrypted (the system keyring changed?): set it again in Settings → Models, or clear it');
    }
  }
}
