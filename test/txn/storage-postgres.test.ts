import { startLocalPostgres } from '../../src/local-servers/postgres-server.ts';
import { createStorage } from '../../src/txn/storages/index.ts';
import { storageContractSuite } from './storage-contract.ts';

storageContractSuite('postgres', async () => {
  const server = await startLocalPostgres();
  const storage = await createStorage('pg', server.connection());
  return { storage, cleanup: () => server.destroy() };
});
