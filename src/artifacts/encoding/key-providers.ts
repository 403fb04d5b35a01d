/**
 * Key-encryption keys (KEKs) that wrap each artifact's data key. A provider holds one KEK and names it by a
 * key id recorded in every artifact header, so a reader knows which key it needs and a wrong key is
 * refused by id before any byte is decrypted (the wrap's GCM tag catches a key with a colliding id).
 *
 * - `local`: a 32-byte key from a file (STILLPOINT_KEK_FILE) or an environment variable (STILLPOINT_KEK),
 *   as 64 hex characters or base64. Its key id is `local:<first 16 hex of sha256(key)>`: a fingerprint,
 *   never the key.
 * - `kms`: an AWS KMS key (./kms-provider.ts): data keys come from GenerateDataKey, the wrap is KMS's
 *   ciphertext blob, and the key id is `kms:<key ARN>`.
 *
 * Reads go through a {@link Keyring}: it unwraps by the key id each header names (a `kms:` id through KMS,
 * a `local:` id through the local key), so one store reads artifacts written before and after a rotation.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.ts';

export interface WrappedKey {
  readonly keyId: string;
  /** AES-256-GCM(KEK, dataKey): nonce (12) ‖ ciphertext (32) ‖ tag (16), base64. */
  readonly wrapped: string;
}

export interface KeyProvider {
  readonly keyId: string;
  /** A fresh 32-byte data key and its wrap (KMS: one GenerateDataKey call). */
  newDataKey(): Promise<{ dataKey: Buffer; wrapped: WrappedKey }>;
  wrap(dataKey: Buffer): Promise<WrappedKey>;
  /** Throws ENCRYPTION_KEY_WRONG when the key id differs or the wrap does not authenticate. */
  unwrap(key: WrappedKey): Promise<Buffer>;
}

const WRAP_AAD = Buffer.from('stillpoint data key v1');

export function localKeyProvider(kek: Buffer): KeyProvider {
  if (kek.length !== 32) {
    throw new ConfigError(
      'ENCRYPTION_KEY_INVALID',
      `The key-encryption key has ${kek.length} bytes; it must have 32.`,
      {
        hint: 'Generate one with `openssl rand -hex 32` and put it in STILLPOINT_KEK or the file STILLPOINT_KEK_FILE names.',
      },
    );
  }
  const keyId = `local:${createHash('sha256').update(kek).digest('hex').slice(0, 16)}`;
  const provider: KeyProvider = {
    keyId,
    async newDataKey() {
      const dataKey = randomBytes(32);
      return { dataKey, wrapped: await provider.wrap(dataKey) };
    },
    wrap(dataKey) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', kek, nonce);
      cipher.setAAD(WRAP_AAD);
      const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
      return Promise.resolve({
        keyId,
        wrapped: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64'),
      });
    },
    unwrap(key) {
      if (key.keyId !== keyId) return Promise.reject(wrongKey(key.keyId, keyId));
      const raw = Buffer.from(key.wrapped, 'base64');
      try {
        const decipher = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, 12));
        decipher.setAAD(WRAP_AAD);
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        return Promise.resolve(
          Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]),
        );
      } catch (cause) {
        return Promise.reject(wrongKey(key.keyId, keyId, cause));
      }
    },
  };
  return provider;
}

/** The local provider from STILLPOINT_KEK or STILLPOINT_KEK_FILE, or undefined when neither is set. */
export function keyProviderFromEnv(env: NodeJS.ProcessEnv = process.env): KeyProvider | undefined {
  const inline = env.STILLPOINT_KEK;
  const file = env.STILLPOINT_KEK_FILE;
  if (inline !== undefined && inline.length > 0) return localKeyProvider(parseKey(inline));
  if (file !== undefined && file.length > 0) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new ConfigError(
        'ENCRYPTION_KEY_MISSING',
        `The key file ${file} (STILLPOINT_KEK_FILE) cannot be read.`,
        {
          hint: 'Check the path and that the file is readable by this user (mode 0600).',
          cause,
        },
      );
    }
    return localKeyProvider(parseKey(text));
  }
  return undefined;
}

function parseKey(text: string): Buffer {
  const t = text.trim();
  return /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
}

/** The keys a store reads with: whatever key id an artifact header names, and the key new writes use. */
export interface Keyring {
  /** The provider new artifacts are encrypted with, or undefined when the store does not encrypt. */
  readonly writer: KeyProvider | undefined;
  /** Unwraps a data key by the key id recorded with it (ENCRYPTION_KEY_MISSING when no such key is at hand). */
  unwrap(key: WrappedKey, artifact: string): Promise<Buffer>;
}

/**
 * A keyring: `writer` for new artifacts; `local:` ids unwrap with `local` (the env key), `kms:` ids through
 * `kms(arn)` (KMS finds the key from the blob; IAM decides whether this caller may use it).
 */
export function createKeyring(
  writer: KeyProvider | undefined,
  local: KeyProvider | undefined,
  kms: (arn: string) => KeyProvider,
): Keyring {
  return {
    writer,
    unwrap(key, artifact) {
      if (key.keyId.startsWith('kms:')) return kms(key.keyId.slice('kms:'.length)).unwrap(key);
      if (local !== undefined) return local.unwrap(key);
      return Promise.reject(
        new ConfigError(
          'ENCRYPTION_KEY_MISSING',
          `Artifact ${artifact} is encrypted under key ${key.keyId}, and no key was given; nothing was restored.`,
          {
            context: { key: artifact, keyId: key.keyId },
            hint: `Set STILLPOINT_KEK or STILLPOINT_KEK_FILE to the key with id ${key.keyId}.`,
          },
        ),
      );
    },
  };
}

export function wrongKey(needed: string, have: string, cause?: unknown): ConfigError {
  return new ConfigError(
    'ENCRYPTION_KEY_WRONG',
    `The artifact was encrypted under key ${needed}, but the key given is ${have}; nothing was restored.`,
    {
      context: { keyId: needed },
      hint: `Set STILLPOINT_KEK or STILLPOINT_KEK_FILE to the key with id ${needed}.`,
      ...(cause !== undefined ? { cause } : {}),
    },
  );
}
