/**
 * The S3 and Azure Blob stores against REAL servers on loopback (s3rver in-process, Azurite as a child
 * process), one server per file and a fresh bucket/container per test. The round trip (upload, download,
 * sha256 equal) catches the aws-chunked framing trap: with the SDK's default checksums, s3rver stores the
 * framing inside the object and the downloaded sha256 differs.
 */
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ArtifactStore } from '../../src/artifacts/contract.ts';
import { sha256Stream } from '../../src/artifacts/measure.ts';
import { openArtifactStore } from '../../src/artifacts/open-store.ts';
import { PART_BYTES } from '../../src/artifacts/remote/s3-store.ts';
import {
  S3RVER_CREDENTIALS,
  startAzurite,
  startS3rver,
  type RunningAzurite,
  type RunningObjectServer,
} from '../../src/lab/local-servers/object-store-servers.ts';

/** `total` pseudo-random bytes in 1 MiB chunks, never held whole; fails after `failAfter` bytes if given. */
function randomSource(total: number, failAfter?: number): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (failAfter !== undefined && sent >= failAfter) {
        this.destroy(new Error('source went away'));
        return;
      }
      if (sent >= total) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(1024 * 1024, total - sent));
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

let counter = 0;
const fresh = (base: string): string => `${base}${Date.now().toString(36)}${(counter++).toString(36)}`;

interface StoreKind {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A store on a fresh, empty bucket/container. */
  fresh(): Promise<ArtifactStore>;
  /** Every object name in the store's bucket/container (including anything a store might hide). */
  rawNames(store: ArtifactStore): Promise<string[]>;
}

function s3Kind(): StoreKind {
  let server: RunningObjectServer;
  let admin: S3Client;
  const bucketOf = (store: ArtifactStore): string => new URL(store.location).hostname;
  return {
    name: 's3 (s3rver)',
    async start() {
      server = await startS3rver();
      vi.stubEnv('AWS_ACCESS_KEY_ID', S3RVER_CREDENTIALS.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', S3RVER_CREDENTIALS.secretAccessKey);
      admin = new S3Client({
        region: 'us-east-1',
        endpoint: server.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
      });
    },
    async stop() {
      admin.destroy();
      await server.stop();
    },
    async fresh() {
      const bucket = fresh('sp-');
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      return openArtifactStore(`s3://${bucket}/backups/prod?endpoint=${encodeURIComponent(server.endpoint)}`);
    },
    async rawNames(store) {
      const out = await admin.send(new ListObjectsV2Command({ Bucket: bucketOf(store) }));
      return (out.Contents ?? []).map((o) => o.Key ?? '');
    },
  };
}

function azuriteKind(): StoreKind {
  let server: RunningAzurite;
  let admin: BlobServiceClient;
  const containerOf = (store: ArtifactStore): string => new URL(store.location).pathname.split('/')[1] ?? '';
  return {
    name: 'azblob (azurite)',
    async start() {
      server = await startAzurite();
      vi.stubEnv('AZURE_STORAGE_CONNECTION_STRING', server.connectionString);
      admin = BlobServiceClient.fromConnectionString(server.connectionString);
    },
    stop: () => server.stop(),
    async fresh() {
      const container = fresh('sp-');
      await admin.getContainerClient(container).create();
      return openArtifactStore(
        `azblob://devstoreaccount1/${container}/backups/prod?endpoint=${encodeURIComponent(server.endpoint)}`,
      );
    },
    async rawNames(store) {
      const out: string[] = [];
      for await (const b of admin
        .getContainerClient(containerOf(store))
        .listBlobsFlat({ includeUncommitedBlobs: true }))
        out.push(b.name);
      return out;
    },
  };
}

for (const kind of [s3Kind(), azuriteKind()]) {
  describe(`${kind.name} artifact store (real server on loopback)`, () => {
    beforeAll(() => kind.start(), 60_000);
    afterAll(async () => {
      await kind.stop();
      vi.unstubAllEnvs();
    });

    it('round-trips a streamed multipart artifact byte for byte (upload, download, sha256 equal)', async () => {
      const store = await kind.fresh();
      const total = 2 * PART_BYTES + 12345;
      const source = randomSource(total);
      const ref = await store.put('bk-1/a/snapshot.sqlite', source.stream);
      expect(ref).toMatchObject({
        key: 'bk-1/a/snapshot.sqlite',
        bytes: total,
        sha256: source.sha256(),
        shared: false,
      });
      const back = await sha256Stream(await store.get(ref.key));
      expect(back).toEqual({ sha256: ref.sha256, bytes: total });
      expect(await store.verify(ref)).toBe(true);
      expect(await store.verify({ ...ref, sha256: '0'.repeat(64) })).toBe(false);
      expect(store.localPath(ref.key)).toBeUndefined();
      // A streamed artifact smaller than one part goes out as one PutObject of unknown length: the case
      // where default SDK checksums put aws-chunked framing into the object on s3rver.
      const small = randomSource(300_000);
      const smallRef = await store.put('bk-1/a/small.sqlite', small.stream);
      expect(smallRef.sha256).toBe(small.sha256());
      expect(await sha256Stream(await store.get(smallRef.key))).toEqual({
        sha256: smallRef.sha256,
        bytes: 300_000,
      });
    }, 120_000);

    it('puts small artifacts, lists under a prefix, checks existence and deletes', async () => {
      const store = await kind.fresh();
      const a = await store.put('bk-1/a/x.db', 'hello');
      await store.put('shared/a/wal/1', Buffer.from('wal'));
      expect(a.sha256).toBe(createHash('sha256').update('hello').digest('hex'));
      expect(await store.list('bk-1/')).toEqual(['bk-1/a/x.db']);
      expect(await store.list('')).toEqual(['bk-1/a/x.db', 'shared/a/wal/1']);
      expect(await store.exists('bk-1/a/x.db')).toBe(true);
      expect(await store.size('bk-1/a/x.db')).toBe(5);
      await store.delete('bk-1/a/x.db');
      expect(await store.size('bk-1/a/x.db')).toBeUndefined();
      expect(await store.exists('bk-1/a/x.db')).toBe(false);
      await expect(store.get('bk-1/a/x.db')).rejects.toMatchObject({ code: 'ARTIFACT_MISSING' });
      await expect(Promise.resolve().then(() => store.exists('../escape'))).rejects.toMatchObject({
        code: 'ARTIFACT_KEY_INVALID',
      });
    }, 60_000);

    it('an upload interrupted after several parts fails with ARTIFACT_WRITE_FAILED and leaves no object', async () => {
      const store = await kind.fresh();
      const source = randomSource(4 * PART_BYTES, 2 * PART_BYTES + 1024);
      await expect(store.put('bk-1/a/snapshot.sqlite', source.stream)).rejects.toMatchObject({
        code: 'ARTIFACT_WRITE_FAILED',
      });
      expect(await store.exists('bk-1/a/snapshot.sqlite')).toBe(false);
      expect(await kind.rawNames(store)).toEqual([]);
      expect(await store.list('')).toEqual([]);
    }, 120_000);
  });
}

describe('remote store URLs', () => {
  it('refuses malformed URLs with codes', () => {
    expect(() => openArtifactStore('s3:///prefix')).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_STORE_URL_INVALID' }),
    );
    expect(() => openArtifactStore('s3://b/p?sse=rot13')).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_STORE_URL_INVALID' }),
    );
    expect(() => openArtifactStore('azblob://acct')).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_STORE_URL_INVALID' }),
    );
    // Missing Azure credentials are no longer refused at open: Entra ID (DefaultAzureCredential) is the
    // fallback; see test/artifacts/azblob-auth.test.ts.
  });
});
