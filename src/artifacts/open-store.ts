/**
 * The one place an {@link ArtifactStore} is created: from the URL (or plain path) recorded in a plan and in
 * every catalog row, so backup, restore, verify, retention and recovery all reach the same store the same
 * way, and a new kind of store is added here only.
 *
 * - `file:///abs/path` and a plain path (absolute, or relative to the cwd): a local directory.
 * - `s3://bucket/prefix?…`: Amazon S3 or an S3-compatible service (./remote/s3-store.ts).
 * - `azblob://account/container/prefix?…`: Azure Blob Storage (./remote/azblob-store.ts).
 *
 * Any URL may add `compression=gzip|brotli|none` and `encryption=local` (key from STILLPOINT_KEK or
 * STILLPOINT_KEK_FILE) or `encryption=kms&key=<KMS key ARN>` (optionally `kmsEndpoint=http://…`): the store
 * is then wrapped by ./encoding/encoded-store.ts. Reads decode whatever each object's header says (any
 * local or KMS key id), so the options only decide how new artifacts are written.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import type { ArtifactStore } from './contract.ts';
import { createEncodedStore } from './encoding/encoded-store.ts';
import type { Compression } from './encoding/envelope.ts';
import {
  createKeyring,
  keyProviderFromEnv,
  type Keyring,
  type KeyProvider,
} from './encoding/key-providers.ts';
import { kmsKeyProvider } from './encoding/kms-provider.ts';
import { createLocalDirStore } from './local-dir-store.ts';
import { createAzblobStore } from './remote/azblob-store.ts';
import { createS3Store } from './remote/s3-store.ts';

/** `writer`, when given, encrypts new artifacts under that key whatever the URL says (`keys rotate`). */
export function openArtifactStore(location: string, writer?: KeyProvider): ArtifactStore {
  const inner = openPlainStore(location);
  const encoding = encodingOf(location.trim());
  if (encoding === undefined && writer === undefined) return inner;
  return createEncodedStore(inner, location.trim(), {
    compression: encoding?.compression ?? 'none',
    encrypt: writer !== undefined || (encoding !== undefined && encoding.encryption !== 'none'),
    keys: keyringFor(location, writer),
  });
}

/**
 * The keys a store URL reads and writes with: its writer is the URL's `encryption` choice (the env key, or
 * the KMS key of `key=`), and it unwraps any local or KMS key id an artifact names.
 */
export function keyringFor(location: string, writer?: KeyProvider): Keyring {
  const encoding = encodingOf(location.trim());
  const kmsEndpoint = kmsEndpointOf(location.trim());
  const kms = (arn: string): KeyProvider =>
    kmsKeyProvider(arn, kmsEndpoint === undefined ? {} : { endpoint: kmsEndpoint });
  const local = keyProviderFromEnv();
  const chosen =
    writer ??
    (encoding?.encryption === 'kms'
      ? kms(encoding.kmsKey)
      : encoding?.encryption === 'local'
        ? local
        : undefined);
  return createKeyring(chosen, local, kms);
}

function kmsEndpointOf(location: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return undefined;
  return new URL(location).searchParams.get('kmsEndpoint') ?? undefined;
}

type Encoding =
  | { compression: Compression; encryption: 'none' | 'local' }
  | { compression: Compression; encryption: 'kms'; kmsKey: string };

/** The `compression` / `encryption` query options of a store URL, or undefined when it has neither. */
function encodingOf(location: string): Encoding | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return undefined;
  const q = new URL(location).searchParams;
  const compression = q.get('compression');
  const encryption = q.get('encryption');
  if (compression === null && encryption === null) return undefined;
  if (compression !== null && compression !== 'gzip' && compression !== 'brotli' && compression !== 'none') {
    throw new ConfigError(
      'ARTIFACT_STORE_URL_INVALID',
      `Unknown compression "${compression}" in ${location}.`,
      {
        context: { location },
        hint: 'Use compression=gzip, compression=brotli or compression=none.',
      },
    );
  }
  if (encryption !== null && encryption !== 'local' && encryption !== 'kms' && encryption !== 'none') {
    throw new ConfigError(
      'ARTIFACT_STORE_URL_INVALID',
      `Unknown encryption "${encryption}" in ${location}.`,
      {
        context: { location },
        hint: 'Use encryption=local (key from STILLPOINT_KEK or STILLPOINT_KEK_FILE), encryption=kms&key=<KMS key ARN>, or leave it out.',
      },
    );
  }
  if (encryption === 'kms') {
    const kmsKey = q.get('key');
    if (kmsKey === null || kmsKey.length === 0) {
      throw new ConfigError(
        'ENCRYPTION_KEY_MISSING',
        `${location} asks for KMS encryption and names no key.`,
        {
          context: { location },
          hint: 'Add key=<KMS key ARN> (URL-encoded) to the store URL.',
        },
      );
    }
    return { compression: compression ?? 'none', encryption, kmsKey };
  }
  return { compression: compression ?? 'none', encryption: encryption === 'local' ? 'local' : 'none' };
}

/** The store without its encoding layer: the stored bytes as they are (for `keys rotate`). */
export function openPlainStore(location: string): ArtifactStore {
  const trimmed = location.trim();
  if (trimmed.length === 0) {
    throw new ConfigError('ARTIFACT_STORE_URL_INVALID', 'The artifact store location is empty.', {
      hint: "Set the plan's artifacts directory to a path or a file:/// URL.",
    });
  }
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) return createLocalDirStore(trimmed);
  if (scheme === 'file:') {
    let path: string;
    try {
      path = fileURLToPath(trimmed);
    } catch (cause) {
      throw new ConfigError('ARTIFACT_STORE_URL_INVALID', `"${trimmed}" is not a valid file URL.`, {
        hint: 'Write a local store as file:///absolute/path (three slashes) or as a plain path.',
        cause,
      });
    }
    return createLocalDirStore(path);
  }
  if (scheme === 's3:') return createS3Store(trimmed);
  if (scheme === 'azblob:') return createAzblobStore(trimmed);
  throw new ConfigError(
    'ARTIFACT_STORE_URL_INVALID',
    `Unknown artifact store scheme ${scheme}// in "${trimmed}".`,
    {
      context: { location: trimmed },
      hint: 'Use a path, file:///absolute/path, s3://bucket/prefix or azblob://account/container/prefix.',
    },
  );
}
