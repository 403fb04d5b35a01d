import { startLocalMariaDb } from '../../src/local-servers/mariadb-server.ts';
import { createStorage } from '../../src/txn/storages/index.ts';
import { storageContractSuite } from './storage-contract.ts';

storageContractSuite('mariadb', async () => {
  const server = await startLocalMariaDb();
  const storage = await createStorage('maria', server.connection());
  return { storage, cleanup: () => server.destroy() };
});
