/**
 * AWS KMS as the key-encryption key (`?encryption=kms&key=<key ARN>`): each artifact's data key comes from
 * `GenerateDataKey` (AES_256), its wrap is the ciphertext blob KMS returns, and reads `Decrypt` it. The data
 * key never leaves this process unwrapped; the KMS key never leaves KMS.
 *
 * Every call carries the encryption context `{ "stillpoint": "data-key-v1" }`, so a blob made for another
 * purpose cannot be passed off as a data key (KMS authenticates the context). Credentials come from the
 * SDK's standard chain; the region from the key ARN; the endpoint from `kmsEndpoint=` in the store URL or
 * AWS_ENDPOINT_URL_KMS (a VPC endpoint, a test double).
 *
 * KMS errors become coded errors: a key that does not exist, is disabled or pending deletion, or that this
 * caller may not use is KMS_KEY_UNUSABLE; a blob under another key or that does not authenticate is
 * ENCRYPTION_KEY_WRONG; anything else (network, throttling after the SDK's retries) is KMS_REQUEST_FAILED.
 */
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ReEncryptCommand,
} from '@aws-sdk/client-kms';
import { ConfigError } from '../../errors.ts';
import type { KeyProvider, WrappedKey } from './key-providers.ts';

const CONTEXT = { stillpoint: 'data-key-v1' };
const REQUEST_TIMEOUT_MS = 30_000;

export interface KmsOptions {
  /** Overrides the endpoint (else AWS_ENDPOINT_URL_KMS, else the region's public endpoint). */
  readonly endpoint?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface KmsKeyProvider extends KeyProvider {
  readonly arn: string;
  /** Moves a wrap made by any KMS key under this one inside KMS (ReEncrypt: the data key never leaves it). */
  reEncrypt(key: WrappedKey): Promise<WrappedKey>;
}

const clients = new Map<string, KMSClient>();

function clientFor(region: string, endpoint: string | undefined): KMSClient {
  const id = `${region} ${endpoint ?? ''}`;
  let client = clients.get(id);
  if (client === undefined) {
    client = new KMSClient({
      region,
      ...(endpoint !== undefined ? { endpoint } : {}),
      requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS },
    });
    clients.set(id, client);
  }
  return client;
}

export function regionOfKeyArn(arn: string): string | undefined {
  return /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(arn)?.[1];
}

export function kmsKeyProvider(arn: string, options: KmsOptions = {}): KmsKeyProvider {
  const env = options.env ?? process.env;
  const region = regionOfKeyArn(arn);
  if (region === undefined) {
    throw new ConfigError('ENCRYPTION_KEY_INVALID', `"${arn}" is not a KMS key ARN.`, {
      context: { key: arn },
      hint: 'Name the key by its full ARN: key=arn:aws:kms:<region>:<account>:key/<key-id> (URL-encoded in the store URL).',
    });
  }
  const endpoint = options.endpoint ?? (env.AWS_ENDPOINT_URL_KMS || undefined);
  const client = clientFor(region, endpoint);
  const keyId = `kms:${arn}`;
  const asWrapped = (blob: Uint8Array | undefined, resolvedArn: string | undefined): WrappedKey => ({
    keyId: `kms:${resolvedArn ?? arn}`,
    wrapped: Buffer.from(blob ?? new Uint8Array()).toString('base64'),
  });
  const provider: KmsKeyProvider = {
    arn,
    keyId,
    async newDataKey() {
      const out = await call(arn, 'GenerateDataKey', () =>
        client.send(
          new GenerateDataKeyCommand({ KeyId: arn, KeySpec: 'AES_256', EncryptionContext: CONTEXT }),
        ),
      );
      return {
        dataKey: Buffer.from(out.Plaintext ?? new Uint8Array()),
        wrapped: asWrapped(out.CiphertextBlob, out.KeyId),
      };
    },
    async wrap(dataKey) {
      const out = await call(arn, 'Encrypt', () =>
        client.send(new EncryptCommand({ KeyId: arn, Plaintext: dataKey, EncryptionContext: CONTEXT })),
      );
      return asWrapped(out.CiphertextBlob, out.KeyId);
    },
    async unwrap(key) {
      if (key.keyId !== keyId) throw wrongKmsKey(key.keyId, keyId);
      const out = await call(arn, 'Decrypt', () =>
        client.send(
          new DecryptCommand({
            KeyId: arn,
            CiphertextBlob: Buffer.from(key.wrapped, 'base64'),
            EncryptionContext: CONTEXT,
          }),
        ),
      );
      return Buffer.from(out.Plaintext ?? new Uint8Array());
    },
    async reEncrypt(key) {
      const out = await call(arn, 'ReEncrypt', () =>
        client.send(
          new ReEncryptCommand({
            CiphertextBlob: Buffer.from(key.wrapped, 'base64'),
            SourceKeyId: key.keyId.replace(/^kms:/, ''),
            SourceEncryptionContext: CONTEXT,
            DestinationKeyId: arn,
            DestinationEncryptionContext: CONTEXT,
          }),
        ),
      );
      return asWrapped(out.CiphertextBlob, out.KeyId);
    },
  };
  return provider;
}

const UNUSABLE = new Set([
  'NotFoundException',
  'DisabledException',
  'KMSInvalidStateException',
  'AccessDeniedException',
  'KeyUnavailableException',
  'InvalidKeyUsageException',
]);
const WRONG = new Set(['IncorrectKeyException', 'InvalidCiphertextException']);

async function call<T>(arn: string, operation: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (cause) {
    const name = (cause as { name?: string }).name ?? 'Error';
    const said = (cause as { message?: string }).message ?? String(cause);
    if (UNUSABLE.has(name)) {
      throw new ConfigError(
        'KMS_KEY_UNUSABLE',
        `KMS refused ${operation} with key ${arn}: ${name}: ${said}`,
        {
          context: { key: arn, operation, kmsError: name },
          hint:
            name === 'NotFoundException'
              ? 'Check the key ARN (and its region) in the store URL; nothing was written or restored.'
              : name === 'AccessDeniedException'
                ? `Grant this identity kms:${operation} on the key; nothing was written or restored.`
                : 'Enable the key (or cancel its deletion) in KMS; nothing was written or restored.',
          cause,
        },
      );
    }
    if (WRONG.has(name)) throw wrongKmsKey(arn, arn, cause);
    throw new ConfigError('KMS_REQUEST_FAILED', `KMS ${operation} with key ${arn} failed: ${name}: ${said}`, {
      context: { key: arn, operation, kmsError: name },
      hint: 'Check network access to KMS (or AWS_ENDPOINT_URL_KMS) and the AWS credentials, then retry.',
      cause,
    });
  }
}

function wrongKmsKey(needed: string, have: string, cause?: unknown): ConfigError {
  return new ConfigError(
    'ENCRYPTION_KEY_WRONG',
    `A data key wrapped under ${needed} does not open with KMS key ${have}; nothing was restored.`,
    {
      context: { keyId: needed },
      hint: 'The artifact was changed or was wrapped under another key: check the store and the key named in its header.',
      ...(cause !== undefined ? { cause } : {}),
    },
  );
}
