/**
 * The store is the source of truth: a backup taken by one process into S3 (s3rver on loopback, encrypted
 * and compressed) is listed, verified and restored by other processes that start from an EMPTY catalog after
 * `stillpoint backups sync --store <url>`.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { manifestKey } from '../../src/catalog/manifest.ts';
import { openArtifactStore } from '../../src/artifacts/open-store.ts';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { demoGroup, seedBank, writeDemoPlan } from '../../src/lab/demo/demo-setup.ts';
import {
  S3RVER_CREDENTIALS,
  startS3rver,
  type RunningObjectServer,
} from '../../src/lab/local-servers/object-store-servers.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { startAdminNode, tempDir } from '../orchestrator/helpers.ts';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'main.ts');
const KEK = 'e'.repeat(64);

function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('backups sync rebuilds an empty catalog from the manifests in the store (s3rver)', () => {
  let s3: RunningObjectServer;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(() => s3.stop());

  it('a backup written by one process is listed, verified and restored from a fresh catalog', async () => {
    const tmp = tempDir('sp-sync-');
    const node = await startAdminNode();
    const env = {
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      STILLPOINT_KEK: KEK,
    };
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    try {
      const admin = new S3Client({
        region: 'us-east-1',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
      });
      await admin.send(new CreateBucketCommand({ Bucket: 'sp-sync' }));
      admin.destroy();
      const url = `s3://sp-sync/prod?endpoint=${encodeURIComponent(s3.endpoint)}&compression=gzip&encryption=local`;
      const dataDir = join(tmp.dir, 'data');
      await seedBank(demoGroup(dataDir), 10);
      const plan = {
        ...loadPlan(
          writeDemoPlan(tmp.dir, {
            addresses: [`127.0.0.1:${node.port}`],
            dataDir,
            leaseMs: 5000,
            minWindowMs: 0,
          }),
        ),
        artifactsDir: url,
      };
      const first = openCatalog(plan.catalogPath);
      const backup = await runBackup({ plan, catalog: first });
      first.close();
      expect(backup.state).toBe('complete');
      expect(await openArtifactStore(url).exists(manifestKey(backup.backupId))).toBe(true);

      const fresh = join(tmp.dir, 'new-pod', 'catalog.db');
      const sync = await cli(['backups', 'sync', '--store', url, '--catalog', fresh, '--json'], env);
      expect(sync.code, sync.stderr).toBe(0);
      expect(JSON.parse(sync.stdout)).toMatchObject({ imported: [backup.backupId], failed: [] });
      const again = await cli(['backups', 'sync', '--store', url, '--catalog', fresh, '--json'], env);
      expect(JSON.parse(again.stdout)).toMatchObject({ imported: [], alreadyKnown: [backup.backupId] });
      const list = await cli(['backups', 'list', '--catalog', fresh, '--json'], env);
      expect(JSON.stringify(JSON.parse(list.stdout))).toContain(backup.backupId);
      const verify = await cli(['backups', 'verify', backup.backupId, '--catalog', fresh, '--json'], env);
      expect(verify.code).toBe(0);
      const files = await cli(
        ['backups', 'verify', backup.backupId, '--level', 'files', '--catalog', fresh, '--json'],
        env,
      );
      expect(files.code).toBe(0);
      expect(JSON.parse(files.stdout).counts.artifactsChecked).toBe(3);
      // A sync without the key cannot read the encrypted manifest: reported, coded, exit 1.
      const noKey = await cli(
        ['backups', 'sync', '--store', url, '--catalog', join(tmp.dir, 'other.db'), '--json'],
        { ...env, STILLPOINT_KEK: '' },
      );
      expect(noKey.code).toBe(1);
      expect(JSON.parse(noKey.stdout).failed[0].code).toBe('ENCRYPTION_KEY_MISSING');

      const catalog = openCatalog(fresh);
      try {
        const report = await runRestore(catalog, {
          backupId: backup.backupId,
          plan,
          invariants: [bankInvariants],
          intoDir: join(tmp.dir, 'r'),
        });
        expect(report.state).toBe('restored');
        expect(report.check?.ok).toBe(true);
      } finally {
        catalog.close();
      }
    } finally {
      vi.unstubAllEnvs();
      await node.server.close();
      tmp.cleanup();
    }
  }, 180_000);
});
