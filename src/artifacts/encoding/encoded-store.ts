/**
 * An {@link ArtifactStore} that compresses and/or encrypts every artifact it writes into an inner store
 * (./envelope.ts) and decodes on the fly when reading. Chosen by the store URL (`?compression=gzip`,
 * `?encryption=local`), which is recorded in the catalog, so every reader reopens it the same way.
 *
 * The ref's sha256 and size are those of the STORED bytes (what `backups verify --level files|checksums`
 * can check without a key); `verify` also decodes the whole object, so a wrong or missing key, or a
 * tampered byte, is found by the checksum pass that runs before any restore.
 */
import type { Readable } from 'node:stream';
import { ConfigError } from '../../errors.ts';
import type { ArtifactRef, ArtifactStore, PartialWrite } from '../contract.ts';
import { measure, toReadable } from '../measure.ts';
import { decode, encode, type Compression } from './envelope.ts';
import type { Keyring } from './key-providers.ts';

export interface EncodedStoreOptions {
  readonly compression: Compression;
  /** Whether to encrypt writes (needs `keys.writer`). Reads decrypt whenever an object says it is encrypted. */
  readonly encrypt: boolean;
  readonly keys: Keyring;
}

export function createEncodedStore(
  inner: ArtifactStore,
  location: string,
  options: EncodedStoreOptions,
): ArtifactStore {
  return new EncodedStore(inner, location, options);
}

class EncodedStore implements ArtifactStore {
  constructor(
    private readonly inner: ArtifactStore,
    readonly location: string,
    private readonly options: EncodedStoreOptions,
  ) {}

  /** Never a local path: the bytes on disk are encoded, so tools must read them through `get`. */
  localPath(): undefined {
    return undefined;
  }

  async put(key: string, source: Readable | Uint8Array | string): Promise<ArtifactRef> {
    const writer = this.options.keys.writer;
    if (this.options.encrypt && writer === undefined) {
      throw new ConfigError(
        'ENCRYPTION_KEY_MISSING',
        `The store ${this.location} encrypts artifacts, and no key was given.`,
        {
          context: { key },
          hint: 'Set STILLPOINT_KEK (64 hex characters) or STILLPOINT_KEK_FILE (a file holding them).',
        },
      );
    }
    // The data key is made (KMS: GenerateDataKey) before the first byte is read or written, so a missing
    // or unusable key fails here with nothing written.
    const input = toReadable(source);
    let encoded: Readable;
    try {
      encoded = await encode(input, {
        compression: this.options.compression,
        ...(this.options.encrypt && writer !== undefined ? { keys: writer } : {}),
      });
    } catch (error) {
      input.destroy();
      throw error;
    }
    input.once('error', (error) => encoded.destroy(error));
    return this.inner.put(key, encoded);
  }

  adopt(key: string, shared: boolean): Promise<ArtifactRef> {
    return this.inner.adopt(key, shared);
  }

  async get(key: string): Promise<Readable> {
    return decode(await this.inner.get(key), this.options.keys, key);
  }

  exists(key: string): Promise<boolean> {
    return this.inner.exists(key);
  }

  size(key: string): Promise<number | undefined> {
    return this.inner.size(key);
  }

  /**
   * Reads every stored byte once: its sha256 and size against the ref, and through the decoder (decrypting
   * and decompressing, output discarded). A wrong or missing key throws its coded error; a changed byte
   * returns false.
   */
  async verify(ref: ArtifactRef): Promise<boolean> {
    let stored: Readable;
    try {
      stored = await this.inner.get(ref.key);
    } catch {
      return false;
    }
    const measured = measure();
    stored.once('error', (error) => measured.stream.destroy(error));
    const plain = await decode(stored.pipe(measured.stream), this.options.keys, ref.key);
    try {
      for await (const chunk of plain) void chunk;
    } catch (error) {
      if (isKeyError(error)) throw error;
      return false;
    }
    const digest = measured.result();
    return digest.sha256 === ref.sha256 && digest.bytes === ref.bytes;
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  listPartialWrites(): Promise<PartialWrite[]> {
    return this.inner.listPartialWrites();
  }

  removePartialWrite(name: string): Promise<void> {
    return this.inner.removePartialWrite(name);
  }
}

function isKeyError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (
    code === 'ENCRYPTION_KEY_WRONG' ||
    code === 'ENCRYPTION_KEY_MISSING' ||
    code === 'KMS_KEY_UNUSABLE' ||
    code === 'KMS_REQUEST_FAILED'
  );
}
