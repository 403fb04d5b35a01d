/**
 * A FAKE AWS KMS (symmetric keys only) on loopback HTTP, speaking KMS's real wire protocol (AWS JSON 1.1:
 * `POST /`, `X-Amz-Target: TrentService.<Operation>`, `Content-Type: application/x-amz-json-1.1`, blobs as
 * base64, errors as HTTP 400 with `{"__type": "<ExceptionName>", "message": …}`), so the product's real
 * `@aws-sdk/client-kms` code runs against it unchanged. No real server covers KMS, hence a fake.
 *
 * What it simulates: keys made by {@link KmsFake.createKey} (key ARNs in the account 111122223333 of the
 * region given), `GenerateDataKey` (AES_256 or NumberOfBytes), `Encrypt`, `Decrypt`, `ReEncrypt`, and
 * `DisableKey` / `ScheduleKeyDeletion` through {@link KmsFake.disableKey} / {@link KmsFake.deleteKey}.
 * Ciphertext blobs carry their key's ARN (as real ones carry the key id), are AES-256-GCM under that key's
 * secret material and authenticate the EncryptionContext, so a blob cannot be decrypted under another key
 * or context. A Decrypt naming a KeyId other than the blob's is IncorrectKeyException, as in KMS; an
 * unknown key is NotFoundException, a disabled one DisabledException, a blob that does not authenticate
 * InvalidCiphertextException. Requests must carry a SigV4 `Authorization` header for the `kms` service
 * (the signature itself is not checked).
 *
 * Not simulated: aliases, grants, key policies, asymmetric/HMAC keys, multi-region keys, throttling.
 * Every call is counted in {@link KmsFake.calls} so tests can see what the product asked for.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface FakeKey {
  readonly arn: string;
  readonly material: Buffer;
  state: 'Enabled' | 'Disabled' | 'PendingDeletion';
}

class KmsException extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export class KmsFake {
  private readonly keys = new Map<string, FakeKey>();
  private server: Server | undefined;
  /** Operation names in call order. */
  readonly calls: string[] = [];

  constructor(readonly region = 'us-east-1') {}

  get endpoint(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (address === undefined || address === null) throw new Error('KmsFake is not started');
    return `http://127.0.0.1:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** A new enabled symmetric key; returns its ARN. */
  createKey(): string {
    const arn = `arn:aws:kms:${this.region}:111122223333:key/${randomUUID()}`;
    this.keys.set(arn, { arn, material: randomBytes(32), state: 'Enabled' });
    return arn;
  }

  disableKey(arn: string): void {
    this.key(arn).state = 'Disabled';
  }

  deleteKey(arn: string): void {
    this.key(arn).state = 'PendingDeletion';
  }

  private key(id: string): FakeKey {
    const k = this.keys.get(id) ?? [...this.keys.values()].find((x) => x.arn.endsWith(`/${id}`));
    if (k === undefined) throw new KmsException('NotFoundException', `Key '${id}' does not exist`);
    return k;
  }

  private usable(id: string): FakeKey {
    const k = this.key(id);
    if (k.state === 'Disabled') throw new KmsException('DisabledException', `${k.arn} is disabled.`);
    if (k.state === 'PendingDeletion')
      throw new KmsException('KMSInvalidStateException', `${k.arn} is pending deletion.`);
    return k;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
    try {
      const auth = String(req.headers.authorization ?? '');
      if (!/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[^/]+\/kms\/aws4_request/.test(auth))
        throw new KmsException('UnrecognizedClientException', 'The request is not signed for kms.');
      if (req.method !== 'POST' || operation === '')
        throw new KmsException('UnknownOperationException', `Unknown target "${target}".`);
      this.calls.push(operation);
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      const output = this.dispatch(operation, input);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify(output));
    } catch (error) {
      const e =
        error instanceof KmsException ? error : new KmsException('KMSInternalException', String(error));
      res.writeHead(e.type === 'KMSInternalException' ? 500 : 400, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': randomUUID(),
      });
      res.end(JSON.stringify({ __type: e.type, message: e.message }));
    }
  }

  private dispatch(operation: string, input: Record<string, unknown>): Record<string, unknown> {
    const context = (input.EncryptionContext ?? {}) as Record<string, string>;
    switch (operation) {
      case 'GenerateDataKey': {
        const key = this.usable(String(input.KeyId));
        const bytes = input.KeySpec === 'AES_128' ? 16 : Number(input.NumberOfBytes ?? 32);
        const plain = randomBytes(bytes);
        return {
          KeyId: key.arn,
          Plaintext: plain.toString('base64'),
          CiphertextBlob: seal(key, plain, context).toString('base64'),
        };
      }
      case 'Encrypt': {
        const key = this.usable(String(input.KeyId));
        const plain = Buffer.from(String(input.Plaintext), 'base64');
        return {
          KeyId: key.arn,
          CiphertextBlob: seal(key, plain, context).toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      }
      case 'Decrypt': {
        const { key, plain } = this.open(String(input.CiphertextBlob), context, input.KeyId);
        return {
          KeyId: key.arn,
          Plaintext: plain.toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      }
      case 'ReEncrypt': {
        const source = (input.SourceEncryptionContext ?? {}) as Record<string, string>;
        const { key, plain } = this.open(String(input.CiphertextBlob), source, input.SourceKeyId);
        const destination = this.usable(String(input.DestinationKeyId));
        const destContext = (input.DestinationEncryptionContext ?? {}) as Record<string, string>;
        return {
          SourceKeyId: key.arn,
          KeyId: destination.arn,
          CiphertextBlob: seal(destination, plain, destContext).toString('base64'),
        };
      }
      default:
        throw new KmsException('UnknownOperationException', `The fake does not implement ${operation}.`);
    }
  }

  private open(
    blobText: string,
    context: Record<string, string>,
    keyId: unknown,
  ): { key: FakeKey; plain: Buffer } {
    const blob = Buffer.from(blobText, 'base64');
    const arnLength = blob.length > 2 ? blob.readUInt16BE(0) : 0;
    if (blob.length < 2 + arnLength + 12 + 16)
      throw new KmsException('InvalidCiphertextException', 'The ciphertext is malformed.');
    const arn = blob.subarray(2, 2 + arnLength).toString('utf8');
    if (typeof keyId === 'string' && keyId.length > 0 && this.key(keyId).arn !== arn)
      throw new KmsException(
        'IncorrectKeyException',
        'The key ID in the request does not identify the key that encrypted the ciphertext.',
      );
    const key = this.usable(arn);
    const rest = blob.subarray(2 + arnLength);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.material, rest.subarray(0, 12));
      decipher.setAAD(contextAad(context));
      decipher.setAuthTag(rest.subarray(rest.length - 16));
      return {
        key,
        plain: Buffer.concat([decipher.update(rest.subarray(12, rest.length - 16)), decipher.final()]),
      };
    } catch {
      throw new KmsException('InvalidCiphertextException', 'The ciphertext does not authenticate.');
    }
  }
}

/** arn length u16 ‖ arn ‖ nonce (12) ‖ ciphertext ‖ tag (16). */
function seal(key: FakeKey, plain: Buffer, context: Record<string, string>): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.material, nonce);
  cipher.setAAD(contextAad(context));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  const arn = Buffer.from(key.arn);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(arn.length);
  return Buffer.concat([head, arn, nonce, body, cipher.getAuthTag()]);
}

function contextAad(context: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify(
      Object.keys(context)
        .sort()
        .map((k) => [k, context[k]]),
    ),
  );
}
