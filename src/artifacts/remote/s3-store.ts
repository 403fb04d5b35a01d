/**
 * `s3://bucket/prefix` — an artifact store in Amazon S3 or any S3-compatible service, through the AWS SDK v3.
 *
 * URL query options (none carry secrets; credentials come from the SDK's standard chain: env, profile, SSO,
 * web identity, instance/container roles):
 * - `region` (default: AWS_REGION, else us-east-1);
 * - `endpoint=http://host:port` for S3-compatible services (MinIO, Ceph, s3rver); implies path-style
 *   addressing unless `forcePathStyle=false`;
 * - `sse=AES256|aws:kms` and `sseKmsKeyId=<key>`: server-side encryption of every object written.
 *
 * Writes stream through `@aws-sdk/lib-storage`'s Upload (parallel multipart parts of {@link PART_BYTES};
 * one PutObject when smaller). A failed or aborted upload aborts its multipart upload, so no partial object
 * is ever visible under a key; the multipart uploads still open are the store's partial writes.
 *
 * For a custom endpoint, checksums are computed only WHEN_REQUIRED: with the SDK's default (flexible
 * checksums on every request) a streamed PutObject is sent with aws-chunked framing, which some
 * S3-compatible servers (s3rver) store verbatim inside the object.
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CatalogError, ConfigError } from '../../errors.ts';
import { PARTIAL_WRITE_MARK, type ArtifactRef, type ArtifactStore, type PartialWrite } from '../contract.ts';
import { isSafeKey, joinKey, measure, sha256Stream, toReadable } from '../measure.ts';

/** Multipart part size: 8 MiB keeps memory at PART_BYTES × QUEUE_SIZE per upload (32 MiB). */
export const PART_BYTES = 8 * 1024 * 1024;
const QUEUE_SIZE = 4;
/** Deadline for one S3 request that does not stream a body (head, list, delete). */
const REQUEST_TIMEOUT_MS = 30_000;

export interface S3StoreOptions {
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  readonly sse?: ServerSideEncryption;
  readonly sseKmsKeyId?: string;
}

/** Parses `s3://bucket/prefix?…` into options (throws ARTIFACT_STORE_URL_INVALID). */
export function parseS3Url(location: string): S3StoreOptions {
  const url = new URL(location);
  const bucket = url.hostname;
  if (bucket.length === 0) {
    throw new ConfigError('ARTIFACT_STORE_URL_INVALID', `"${location}" names no bucket.`, {
      context: { location },
      hint: 'Write an S3 store as s3://bucket/optional/prefix.',
    });
  }
  const q = url.searchParams;
  const endpoint = q.get('endpoint') ?? undefined;
  const sse = q.get('sse') ?? undefined;
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms') {
    throw new ConfigError(
      'ARTIFACT_STORE_URL_INVALID',
      `Unknown server-side encryption "${sse}" in ${location}.`,
      {
        context: { location },
        hint: 'Use sse=AES256 or sse=aws:kms (with sseKmsKeyId=…).',
      },
    );
  }
  return {
    bucket,
    prefix: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, ''),
    region: q.get('region') ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle:
      q.get('forcePathStyle') !== null ? q.get('forcePathStyle') === 'true' : endpoint !== undefined,
    ...(sse !== undefined ? { sse: sse } : {}),
    ...(q.get('sseKmsKeyId') !== null ? { sseKmsKeyId: q.get('sseKmsKeyId') as string } : {}),
  };
}

export function createS3Store(location: string, client?: S3Client): ArtifactStore {
  const options = parseS3Url(location);
  const config: S3ClientConfig = {
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint !== undefined
      ? {
          endpoint: options.endpoint,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : {}),
  };
  return new S3Store(location, options, client ?? new S3Client(config));
}

class S3Store implements ArtifactStore {
  constructor(
    readonly location: string,
    private readonly options: S3StoreOptions,
    private readonly client: S3Client,
  ) {}

  localPath(): undefined {
    return undefined;
  }

  async put(key: string, source: Readable | Uint8Array | string): Promise<ArtifactRef> {
    const measured = measure();
    const body = toReadable(source);
    const upload = new Upload({
      client: this.client,
      queueSize: QUEUE_SIZE,
      partSize: PART_BYTES,
      leavePartsOnError: false,
      params: {
        Bucket: this.options.bucket,
        Key: this.objectKey(key),
        Body: measured.stream,
        ...(this.options.sse !== undefined ? { ServerSideEncryption: this.options.sse } : {}),
        ...(this.options.sseKmsKeyId !== undefined ? { SSEKMSKeyId: this.options.sseKmsKeyId } : {}),
      },
    });
    // The source feeds the measuring stream; a source error aborts the upload (and its multipart upload).
    const feeding = pipeline(body, measured.stream).catch(async (error: unknown) => {
      await upload.abort().catch(() => undefined);
      throw error;
    });
    try {
      await Promise.all([upload.done(), feeding]);
    } catch (error) {
      await upload.abort().catch(() => undefined);
      throw writeFailed(key, this.location, error);
    }
    return { key, ...measured.result(), shared: key.startsWith('shared/') };
  }

  adopt(key: string): Promise<ArtifactRef> {
    return Promise.reject(
      new ConfigError(
        'ARTIFACT_STORE_UNSUPPORTED',
        `Cannot adopt ${key}: ${this.location} has no local directory for external tools.`,
        {
          context: { key },
          hint: 'Engines that need a local directory (PostgreSQL PITR, directory dumps) need a file:// store.',
        },
      ),
    );
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
      );
      return out.Body as Readable;
    } catch (error) {
      throw missing(key, this.location, error);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
        { abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
        { abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
      );
      return head.ContentLength;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async verify(ref: ArtifactRef): Promise<boolean> {
    try {
      const digest = await sha256Stream(await this.get(ref.key));
      return digest.sha256 === ref.sha256 && digest.bytes === ref.bytes;
    } catch {
      return false;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const full = this.options.prefix.length === 0 ? prefix : `${this.options.prefix}/${prefix}`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.options.bucket,
          Prefix: full,
          ...(token !== undefined ? { ContinuationToken: token } : {}),
        }),
        { abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) out.push(this.storeKey(o.Key));
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
      { abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
    );
  }

  /** Multipart uploads still open under the prefix (a crashed writer's), named `<key>.tmp-<uploadId>`. */
  async listPartialWrites(): Promise<PartialWrite[]> {
    const page = await this.client.send(
      new ListMultipartUploadsCommand({
        Bucket: this.options.bucket,
        ...(this.options.prefix.length > 0 ? { Prefix: `${this.options.prefix}/` } : {}),
      }),
      { abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
    );
    return (page.Uploads ?? [])
      .filter((u) => u.Key !== undefined && u.UploadId !== undefined)
      .map((u) => ({
        name: `${this.storeKey(u.Key as string)}${PARTIAL_WRITE_MARK}${u.UploadId as string}`,
        bytes: 0,
        modifiedAtMs: u.Initiated?.getTime() ?? 0,
      }));
  }

  async removePartialWrite(name: string): Promise<void> {
    const at = name.lastIndexOf(PARTIAL_WRITE_MARK);
    if (at <= 0) {
      throw new ConfigError('ARTIFACT_KEY_INVALID', `"${name}" is not a partial write.`, {
        context: { key: name },
        hint: 'Only names returned by listPartialWrites can be removed this way.',
      });
    }
    const key = name.slice(0, at);
    const uploadId = name.slice(at + PARTIAL_WRITE_MARK.length);
    await this.client.send(
      new AbortMultipartUploadCommand({
        Bucket: this.options.bucket,
        Key: this.objectKey(key),
        UploadId: uploadId,
      }),
    );
  }

  private objectKey(key: string): string {
    if (!isSafeKey(key)) {
      throw new ConfigError('ARTIFACT_KEY_INVALID', `Artifact key "${key}" escapes the store root.`, {
        context: { key },
        hint: 'Use a relative, `/`-separated key without `..`.',
      });
    }
    return joinKey(this.options.prefix, key);
  }

  private storeKey(objectKey: string): string {
    return this.options.prefix.length === 0 ? objectKey : objectKey.slice(this.options.prefix.length + 1);
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

function missing(key: string, location: string, error: unknown): CatalogError {
  return new CatalogError('ARTIFACT_MISSING', `Artifact ${key} is missing from ${location}.`, {
    context: { key },
    hint: 'Run `stillpoint backups verify <id>` to see which artifacts are gone.',
    cause: error,
  });
}

function writeFailed(key: string, location: string, error: unknown): CatalogError {
  return new CatalogError(
    'ARTIFACT_WRITE_FAILED',
    `Could not write artifact ${key} to ${location}: ${String(error)}.`,
    {
      context: { key },
      hint: 'Check the credentials (AWS_* variables, profile or role), that the bucket exists, and the network; no partial object was left.',
      cause: error,
    },
  );
}
