import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorage } from '../../src/txn/storages/index.ts';
import { storageContractSuite } from './storage-contract.ts';

storageContractSuite('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-txn-'));
  const storage = await createStorage('lite', { kind: 'sqlite', path: join(dir, 'db.sqlite') });
  return { storage, cleanup: () => rm(dir, { recursive: true, force: true }) };
});
