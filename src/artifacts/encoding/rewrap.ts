/**
 * Rewrapping one stored artifact's data key under another key-encryption key (`stillpoint keys rotate`).
 *
 * A version-2 envelope is rewritten as a new header (same fields, new `keyId` / `wrappedKey`) followed by
 * the stored body copied byte for byte: the data is not decrypted or re-encrypted, and the records still
 * authenticate because their AAD leaves the wrap out (./envelope.ts). KMS to KMS uses ReEncrypt, so the
 * data key never leaves KMS; any other pair unwraps here and wraps under the target. A version-1 envelope
 * binds its records to the whole header, so it is re-encrypted (decoded and encoded again as version 2).
 * The rewrite goes through the store's atomic `put`, so a crash leaves the old object or the new one.
 */
import { Readable } from 'node:stream';
import type { ArtifactRef, ArtifactStore } from '../contract.ts';
import { decode, encode, headerBytes, readEnvelope, wrappedOf, type EnvelopeHeader } from './envelope.ts';
import type { Keyring, KeyProvider, WrappedKey } from './key-providers.ts';
import type { KmsKeyProvider } from './kms-provider.ts';

export type RewrapOutcome =
  /** The header now names the target key; the body was copied as it was. */
  | 'rewrapped'
  /** A version-1 envelope, decrypted and encrypted again under the target. */
  | 'reencrypted'
  /** Already under the target key (a rotation resumed after a crash). */
  | 'already'
  /** Raw or compressed-only: there is no data key to rotate. */
  | 'not-encrypted';

export interface RewrapResult {
  readonly outcome: RewrapOutcome;
  readonly fromKeyId?: string;
  /** The new stored size and sha256 (set when the object was rewritten). */
  readonly ref?: ArtifactRef;
}

/** What rotating `key` would do, reading only its header. */
export async function inspectWrap(
  plain: ArtifactStore,
  key: string,
  target: KeyProvider,
): Promise<{ outcome: RewrapOutcome; fromKeyId?: string }> {
  const stored = await plain.get(key);
  try {
    const opened = await readEnvelope(stored, key);
    if ('plain' in opened || opened.envelope.header.encryption === null) return { outcome: 'not-encrypted' };
    const from = opened.envelope.header.encryption.keyId;
    if (from === target.keyId) return { outcome: 'already', fromKeyId: from };
    return { outcome: opened.envelope.version === 1 ? 'reencrypted' : 'rewrapped', fromKeyId: from };
  } finally {
    stored.destroy();
  }
}

export async function rewrapArtifact(
  plain: ArtifactStore,
  key: string,
  shared: boolean,
  keyring: Keyring,
  target: KeyProvider,
): Promise<RewrapResult> {
  const stored = await plain.get(key);
  const opened = await readEnvelope(stored, key);
  const encryption = 'plain' in opened ? null : opened.envelope.header.encryption;
  if ('plain' in opened || encryption === null) {
    stored.destroy();
    return { outcome: 'not-encrypted' };
  }
  const { version, header, reader } = opened.envelope;
  const from = wrappedOf(header);
  if (from.keyId === target.keyId) {
    stored.destroy();
    return { outcome: 'already', fromKeyId: from.keyId };
  }
  if (version === 1) {
    stored.destroy();
    const decoded = await decode(await plain.get(key), keyring, key);
    const encoded = await encode(decoded, { compression: header.compression, keys: target });
    const ref = await plain.put(key, encoded);
    return { outcome: 'reencrypted', fromKeyId: from.keyId, ref: { ...ref, shared } };
  }
  let wrapped: WrappedKey;
  try {
    wrapped = await rewrapKey(from, key, keyring, target);
  } catch (error) {
    stored.destroy();
    throw error;
  }
  const next: EnvelopeHeader = {
    ...header,
    encryption: { ...encryption, keyId: wrapped.keyId, wrappedKey: wrapped.wrapped },
  };
  async function* body(): AsyncGenerator<Buffer> {
    yield headerBytes(next);
    yield* reader.rest();
  }
  const ref = await plain.put(key, Readable.from(body(), { objectMode: false }));
  return { outcome: 'rewrapped', fromKeyId: from.keyId, ref: { ...ref, shared } };
}

async function rewrapKey(
  from: WrappedKey,
  artifact: string,
  keyring: Keyring,
  target: KeyProvider,
): Promise<WrappedKey> {
  if (from.keyId.startsWith('kms:') && isKms(target)) return target.reEncrypt(from);
  return target.wrap(await keyring.unwrap(from, artifact));
}

function isKms(provider: KeyProvider): provider is KmsKeyProvider {
  return typeof (provider as Partial<KmsKeyProvider>).reEncrypt === 'function';
}
