/**
 * Retention on a remote store (s3rver on loopback, gzip + local-key encryption): deleting a backup deletes
 * its objects in the bucket, and a shared artifact (a PITR base backup) stays while ANY backup still uses
 * it — including backups this catalog does not know, found through their manifests in the store (another
 * pod's catalog). An unreadable manifest keeps every shared object (reported), never deletes one.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openArtifactStore } from '../../src/artifacts/open-store.ts';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { manifestKey, writeManifest } from '../../src/catalog/manifest.ts';
import { deleteBackups } from '../../src/catalog/retention.ts';
import type { MemberSpec } from '../../src/engines/contract.ts';
import {
  S3RVER_CREDENTIALS,
  startS3rver,
  type RunningObjectServer,
} from '../../src/lab/local-servers/object-store-servers.ts';

const member: MemberSpec = {
  name: 'a',
  engine: 'sqlite',
  connection: { kind: 'sqlite', path: '/tmp/a.db' },
  namespaces: ['coordinator'],
  options: {},
};

describe('group-aware retention on the store (s3rver)', () => {
  let s3: RunningObjectServer;
  let dir: string;
  beforeAll(async () => {
    s3 = await startS3rver();
    dir = mkdtempSync(join(tmpdir(), 'sp-ret-'));
    vi.stubEnv('AWS_ACCESS_KEY_ID', S3RVER_CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', S3RVER_CREDENTIALS.secretAccessKey);
    vi.stubEnv('STILLPOINT_KEK', 'c'.repeat(64));
    const admin = new S3Client({
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
    await admin.send(new CreateBucketCommand({ Bucket: 'sp-ret' }));
    admin.destroy();
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
    await s3.stop();
  });

  async function take(catalog: Catalog, url: string, id: string, withShared: boolean): Promise<void> {
    const store = openArtifactStore(url);
    catalog.createBackup({
      id,
      planDigest: 'x',
      group: 'g',
      mode: 'snapshot',
      members: [member],
      artifactsLocation: url,
    });
    const own = await store.put(`${id}/a/wal-window.tar`, `own ${id}`);
    const refs = [own];
    if (withShared) {
      // Each pod's backup writes the same shared object (as PITR backups sharing a base backup do).
      refs.push({ ...(await store.put('shared/a/base.tar', 'base backup')), shared: true });
    }
    catalog.recordArtifacts(id, 'a', refs);
    catalog.transition(id, 'complete');
    await writeManifest(store, catalog.get(id), catalog.events(id));
  }

  it("deletes a backup's objects in the bucket and keeps the shared base backup another pod's backup uses", async () => {
    const url = `s3://sp-ret/prod?endpoint=${encodeURIComponent(s3.endpoint)}&compression=gzip&encryption=local`;
    const store = openArtifactStore(url);
    const podA = openCatalog(join(dir, 'a.db'));
    const podB = openCatalog(join(dir, 'b.db'));
    try {
      await take(podA, url, 'bk-20260101T000000Z-000a', true);
      await take(podB, url, 'bk-20260102T000000Z-000b', true);
      const out = await deleteBackups(podA, ['bk-20260101T000000Z-000a']);
      expect(out[0]).toMatchObject({
        keptShared: ['shared/a/base.tar'],
        keptForStoreBackups: ['bk-20260102T000000Z-000b'],
      });
      expect(await store.exists('bk-20260101T000000Z-000a/a/wal-window.tar')).toBe(false);
      expect(await store.exists(manifestKey('bk-20260101T000000Z-000a'))).toBe(false);
      expect(await store.exists('shared/a/base.tar')).toBe(true);

      // An unreadable manifest (damaged) might reference anything shared: everything shared is kept.
      await take(podA, url, 'bk-20260103T000000Z-000c', true);
      await openArtifactStore(url.replace(/\?.*/, `?endpoint=${encodeURIComponent(s3.endpoint)}`)).put(
        manifestKey('bk-20260104T000000Z-000d'),
        'not a manifest',
      );
      const wary = await deleteBackups(podA, ['bk-20260103T000000Z-000c']);
      expect(wary[0]).toMatchObject({
        keptShared: ['shared/a/base.tar'],
        keptForStoreBackups: ['*unreadable*'],
      });
      await store.delete(manifestKey('bk-20260104T000000Z-000d'));

      // Negative control: the last backup using it goes (pod B), and so does the shared object.
      const last = await deleteBackups(podB, ['bk-20260102T000000Z-000b']);
      expect(last[0]!.removedKeys).toContain('shared/a/base.tar');
      expect(await store.exists('shared/a/base.tar')).toBe(false);
      expect(await store.list('')).toEqual([]);
    } finally {
      podA.close();
      podB.close();
    }
  }, 120_000);
});
