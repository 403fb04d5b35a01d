/**
 * `stillpoint keys rotate` on a real backup (demo bank group on SQLite, real admin node) in an encrypted
 * local store: local key → KMS key (fake KMS, real SDK) → another KMS key (ReEncrypt), through the CLI in
 * child processes. After each rotation only the new key opens the backup, the data bytes are unchanged,
 * `backups verify` passes and a restore with the old key gone passes the bank invariants. A rotation that
 * died between an object's rewrite and its catalog row resumes; --dry-run writes nothing.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rewrapArtifact } from '../../src/artifacts/encoding/rewrap.ts';
import { keyringFor, openPlainStore } from '../../src/artifacts/open-store.ts';
import { kmsKeyProvider } from '../../src/artifacts/encoding/kms-provider.ts';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { demoGroup, seedBank, writeDemoPlan } from '../../src/lab/demo/demo-setup.ts';
import { KmsFake } from '../../src/lab/fakes/kms-fake.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { startAdminNode, tempDir } from '../orchestrator/helpers.ts';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'main.ts');
const OLD_KEK = '1'.repeat(64);

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

/** The key id in a stored envelope's header, and the bytes after the header (the encrypted body). */
function split(file: string): { keyId: string; body: Buffer } {
  const raw = readFileSync(file);
  const end = 9 + raw.readUInt32BE(5);
  const header = JSON.parse(raw.subarray(9, end).toString()) as { encryption: { keyId: string } };
  return { keyId: header.encryption.keyId, body: raw.subarray(end) };
}

describe('keys rotate (real backup, local key → KMS → KMS, KMS fake)', () => {
  const kms = new KmsFake('eu-west-1');
  beforeAll(() => kms.start());
  afterAll(() => kms.stop());

  it('rewraps every artifact and manifest without touching the data; only the new key restores', async () => {
    const tmp = tempDir('sp-rotate-');
    const node = await startAdminNode();
    const base = {
      AWS_ACCESS_KEY_ID: 'AKIAFAKE',
      AWS_SECRET_ACCESS_KEY: 'fake',
      AWS_ENDPOINT_URL_KMS: kms.endpoint,
      STILLPOINT_KEK_FILE: '',
    };
    for (const [k, v] of Object.entries({ ...base, STILLPOINT_KEK: OLD_KEK })) vi.stubEnv(k, v);
    try {
      const storeDir = join(tmp.dir, 'store');
      const url = `${pathToFileURL(storeDir).href}?compression=gzip&encryption=local`;
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
      const catalog = openCatalog(plan.catalogPath);
      const backup = await runBackup({ plan, catalog });
      expect(backup.state).toBe('complete');
      const files = catalog.get(backup.backupId).artifacts.map((a) => join(storeDir, ...a.key.split('/')));
      catalog.close();
      const before = files.map(split);
      expect(before.every((b) => b.keyId.startsWith('local:'))).toBe(true);

      const first = kms.createKey();
      const args = ['keys', 'rotate', '--catalog', plan.catalogPath, '--json'];
      const env = { ...base, STILLPOINT_KEK: OLD_KEK };
      const dry = await cli([...args, '--to-kms', first, '--dry-run'], env);
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, counts: { rewrapped: files.length } });
      expect(files.map(split)).toEqual(before);

      const toKms = await cli([...args, '--to-kms', first], env);
      expect(toKms.code, toKms.stderr).toBe(0);
      expect(JSON.parse(toKms.stdout).counts).toMatchObject({
        rewrapped: files.length,
        'manifest-rewritten': 1,
      });
      const afterKms = files.map(split);
      expect(afterKms.map((a) => a.keyId)).toEqual(files.map(() => `kms:${first}`));
      expect(afterKms.map((a) => a.body)).toEqual(before.map((b) => b.body)); // data not re-encrypted
      expect(split(join(storeDir, backup.backupId, 'manifest.json')).keyId).toBe(`kms:${first}`);

      // KMS → KMS uses ReEncrypt. Simulate a run that died after rewriting one object, before its row.
      const second = kms.createKey();
      const target = kmsKeyProvider(second);
      const [firstKey] = files;
      const key = firstKey!
        .slice(storeDir.length + 1)
        .split('/')
        .join('/');
      await rewrapArtifact(openPlainStore(url), key, false, keyringFor(url), target);
      const reEncryptsBefore = kms.calls.filter((c) => c === 'ReEncrypt').length;
      const resumed = await cli([...args, '--to-kms', second], { ...base, STILLPOINT_KEK: '' });
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout).counts).toMatchObject({
        rewrapped: files.length - 1,
        'catalog-updated': 1,
        'manifest-rewritten': 1,
      });
      // One ReEncrypt per artifact the resumed run rewrapped (the manifest is written anew: GenerateDataKey).
      expect(kms.calls.filter((c) => c === 'ReEncrypt').length - reEncryptsBefore).toBe(files.length - 1);
      expect(files.map(split).map((a) => a.body)).toEqual(before.map((b) => b.body));

      // The old keys are gone: no local key, the first KMS key disabled. Verify and restore still work.
      kms.disableKey(first);
      vi.stubEnv('STILLPOINT_KEK', '');
      const verify = await cli(
        ['backups', 'verify', backup.backupId, '--catalog', plan.catalogPath, '--json'],
        {
          ...base,
          STILLPOINT_KEK: '',
        },
      );
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      const again = openCatalog(plan.catalogPath);
      try {
        const report = await runRestore(again, {
          backupId: backup.backupId,
          plan,
          invariants: [bankInvariants],
          intoDir: join(tmp.dir, 'restored'),
        });
        expect(report.state).toBe('restored');
        expect(report.check?.ok).toBe(true);
      } finally {
        again.close();
      }

      // A new local key file, and bad input.
      const newKey = join(tmp.dir, 'new.kek');
      writeFileSync(newKey, '2'.repeat(64), { mode: 0o600 });
      const toLocal = await cli([...args, '--to-key-file', newKey], { ...base, STILLPOINT_KEK: '' });
      expect(toLocal.code, toLocal.stderr).toBe(0);
      expect(files.map(split).every((a) => a.keyId.startsWith('local:'))).toBe(true);
      const none = await cli(args, base);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('KEYS_ROTATE_TARGET_MISSING');
    } finally {
      vi.unstubAllEnvs();
      await node.server.close();
      tmp.cleanup();
    }
  }, 600_000);
});
