import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLocalDirStore } from '../../src/artifacts/local-dir-store.ts';
import type { ArtifactStore } from '../../src/artifacts/contract.ts';
import type { MemberRecord } from '../../src/engines/contract.ts';
import { readMemberManifest } from '../../src/engines/member-manifest.ts';

let dir: string;
let artifacts: ArtifactStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-manifest-'));
  artifacts = createLocalDirStore(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const record = (keys: string[]): MemberRecord => ({
  backupId: 'bk-1',
  member: {
    name: 'm',
    engine: 'dynamodb',
    connection: { kind: 'sqlite', path: ':memory:' },
    namespaces: [],
    options: {},
  },
  handle: { kind: 'snapshot', snapshotId: 's' },
  artifacts: keys.map((key) => ({ key, bytes: 0, sha256: '', shared: false })),
});

it('reads the artifact whose key ends with the manifest name, and no other', async () => {
  await artifacts.put('bk-1/m/other.json', JSON.stringify({ which: 'other' }));
  await artifacts.put('bk-1/m/dynamodb-manifest.json', JSON.stringify({ which: 'manifest' }));
  const ctx = { record: record(['bk-1/m/other.json', 'bk-1/m/dynamodb-manifest.json']), artifacts };
  expect(await readMemberManifest(ctx, 'dynamodb-manifest.json')).toEqual({ which: 'manifest' });
});

it('a backup without the manifest is ARTIFACT_MISSING, naming the backup, the member and the file', async () => {
  const ctx = { record: record(['bk-1/m/other.json']), artifacts };
  await expect(readMemberManifest(ctx, 'dynamodb-manifest.json')).rejects.toMatchObject({
    code: 'ARTIFACT_MISSING',
    message: expect.stringMatching(/bk-1.*dynamodb-manifest\.json.*member m/) as unknown,
  });
});
