/**
 * A whole backup of the SQLite bank group into each remote store, then a restore from it, against REAL
 * servers on loopback (s3rver, Azurite) and real scalar-admin servers; and a backup whose uploads fail ends
 * `failed` with no object left behind.
 */
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { demoGroup, seedBank, writeDemoPlan } from '../../src/lab/demo/demo-setup.ts';
import {
  S3RVER_CREDENTIALS,
  startAzurite,
  startS3rver,
  type RunningAzurite,
  type RunningObjectServer,
} from '../../src/lab/local-servers/object-store-servers.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan, type Plan } from '../../src/plan/load-plan.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { startAdminNode, tempDir, type AdminNode } from '../orchestrator/helpers.ts';

let s3: RunningObjectServer;
let azurite: RunningAzurite;
let s3Admin: S3Client;
let azAdmin: BlobServiceClient;
let n = 0;

beforeAll(async () => {
  [s3, azurite] = await Promise.all([startS3rver(), startAzurite()]);
  vi.stubEnv('AWS_ACCESS_KEY_ID', S3RVER_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', S3RVER_CREDENTIALS.secretAccessKey);
  vi.stubEnv('AZURE_STORAGE_CONNECTION_STRING', azurite.connectionString);
  s3Admin = new S3Client({
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  azAdmin = BlobServiceClient.fromConnectionString(azurite.connectionString);
}, 60_000);
afterAll(async () => {
  s3Admin.destroy();
  await Promise.all([s3.stop(), azurite.stop()]);
  vi.unstubAllEnvs();
});

/** A fresh bucket/container; returns the store URL and a lister of every object in it. */
const stores = {
  s3: async () => {
    const bucket = `sp-bk-${Date.now().toString(36)}-${n++}`;
    await s3Admin.send(new CreateBucketCommand({ Bucket: bucket }));
    const names = async (): Promise<string[]> =>
      ((await s3Admin.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map(
        (o) => o.Key ?? '',
      );
    return { url: `s3://${bucket}/prod?endpoint=${encodeURIComponent(s3.endpoint)}`, names };
  },
  azblob: async () => {
    const container = `sp-bk-${Date.now().toString(36)}-${n++}`;
    const client = azAdmin.getContainerClient(container);
    await client.create();
    const names = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const b of client.listBlobsFlat({ includeUncommitedBlobs: true })) out.push(b.name);
      return out;
    };
    return {
      url: `azblob://devstoreaccount1/${container}/prod?endpoint=${encodeURIComponent(azurite.endpoint)}`,
      names,
    };
  },
};

for (const kind of ['s3', 'azblob'] as const) {
  describe(`backup and restore of the SQLite bank group through the ${kind} store`, () => {
    let tmp: ReturnType<typeof tempDir>;
    let node: AdminNode;
    let catalog: Catalog;
    let base: Plan;

    beforeEach(async () => {
      tmp = tempDir('sp-remote-bk-');
      node = await startAdminNode();
      const dataDir = join(tmp.dir, 'data');
      await seedBank(demoGroup(dataDir), 10);
      base = loadPlan(
        writeDemoPlan(tmp.dir, {
          addresses: [`127.0.0.1:${node.port}`],
          dataDir,
          leaseMs: 5000,
          minWindowMs: 0,
        }),
      );
      catalog = openCatalog(base.catalogPath);
    });
    afterEach(async () => {
      catalog.close();
      await node.server.close();
      tmp.cleanup();
    });

    it('backs up into the store and restores from it; the restored group passes the bank checker', async () => {
      const store = await stores[kind]();
      const plan = { ...base, artifactsDir: store.url };
      const backup = await runBackup({ plan, catalog });
      expect(backup.state).toBe('complete');
      const record = catalog.get(backup.backupId);
      expect(record.artifactsLocation).toBe(store.url);
      expect((await store.names()).sort()).toEqual(
        [...record.artifacts.map((a) => `prod/${a.key}`), `prod/${backup.backupId}/manifest.json`].sort(),
      );
      const report = await runRestore(catalog, {
        backupId: backup.backupId,
        plan,
        invariants: [bankInvariants],
        intoDir: join(tmp.dir, 'r'),
      });
      expect(report.state).toBe('restored');
      expect(report.check?.ok).toBe(true);
      expect(report.check?.stats.accounts).toBe(10);
    }, 120_000);

    it('with compression and encryption: restores with the key; a wrong key is refused before the target is touched', async () => {
      vi.stubEnv('STILLPOINT_KEK', 'c'.repeat(64));
      const store = await stores[kind]();
      const plan = { ...base, artifactsDir: `${store.url}&compression=gzip&encryption=local` };
      const backup = await runBackup({ plan, catalog });
      expect(backup.state).toBe('complete');
      vi.stubEnv('STILLPOINT_KEK', 'd'.repeat(64));
      const into = join(tmp.dir, 'r');
      await expect(
        runRestore(catalog, { backupId: backup.backupId, plan, invariants: [bankInvariants], intoDir: into }),
      ).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_WRONG' });
      expect(existsSync(into)).toBe(false);
      vi.stubEnv('STILLPOINT_KEK', 'c'.repeat(64));
      const report = await runRestore(catalog, {
        backupId: backup.backupId,
        plan,
        invariants: [bankInvariants],
        intoDir: into,
      });
      expect(report.state).toBe('restored');
      expect(report.check?.ok).toBe(true);
    }, 120_000);

    it('a backup whose uploads fail (the bucket/container does not exist) ends failed and leaves no object', async () => {
      const store = await stores[kind]();
      const missing = store.url.replace(/sp-bk-/, 'sp-gone-');
      const backup = await runBackup({ plan: { ...base, artifactsDir: missing }, catalog }).catch(
        (error: unknown) => ({ state: 'threw', error }),
      );
      expect(backup.state).not.toBe('complete');
      const failed = catalog.list().at(-1)!;
      expect(failed.state).toBe('failed');
      expect(failed.artifacts).toEqual([]);
      expect(await store.names()).toEqual([]);
    }, 120_000);
  });
}
