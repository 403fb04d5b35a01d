import { startLocalMariaDb } from '../../src/local-servers/mariadb-server.ts';
import { startLocalPostgres } from '../../src/local-servers/postgres-server.ts';
import { transactionSuite } from './transaction-suite.ts';

transactionSuite('bank_a on PostgreSQL, bank_b on MariaDB, Coordinator on PostgreSQL', async () => {
  const [pg, maria] = await Promise.all([startLocalPostgres(), startLocalMariaDb()]);
  return {
    config: { storages: { pg: pg.connection(), maria: maria.connection() }, namespaces: { bank_a: 'pg', bank_b: 'maria', coordinator: 'pg' } },
    cleanup: async () => {
      await Promise.all([pg.destroy(), maria.destroy()]);
    },
  };
});
