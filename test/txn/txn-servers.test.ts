import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionError } from '../../src/errors.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import { createTransactionManager } from '../../src/txn/consensus-commit.ts';
import type { GroupConfig } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { sweep } from '../../src/txn/recovery.ts';
import { A, B, transactionSuite } from './transaction-suite.ts';

let pg: LocalPostgres;
let maria: LocalMariaDb;
const config = (): GroupConfig => ({
  storages: { pg: pg.connection(), maria: maria.connection() },
  namespaces: { bank_a: 'pg', bank_b: 'maria', coordinator: 'pg' },
});

beforeAll(async () => {
  [pg, maria] = await Promise.all([startLocalPostgres(), startLocalMariaDb()]);
});
afterAll(async () => {
  await Promise.all([pg?.destroy(), maria?.destroy()]);
});

transactionSuite('bank_a on PostgreSQL, bank_b on MariaDB, Coordinator on PostgreSQL', () =>
  Promise.resolve({ config: config(), cleanup: () => Promise.resolve() }),
);

describe('the Coordinator storage fails at the commit point', () => {
  it('reports TX_COMMIT_UNKNOWN, and the sweep settles the transaction once the storage is back', async () => {
    const group = await openGroup(config());
    try {
      const setup = createTransactionManager({ group });
      await setup.run((tx) => {
        tx.put(A, { id: 'cu' }, { balance: 100 });
        tx.put(B, { id: 'cu' }, { balance: 100 });
        return Promise.resolve();
      });
      const tm = createTransactionManager({
        group,
        failpoints: { afterPrepare: () => pg.stop('immediate') },
      });
      const error = await tm
        .run(
          async (tx) => {
            const a = await tx.get(A, { id: 'cu' });
            tx.put(A, { id: 'cu' }, { balance: (a?.balance as number) - 1 });
            tx.put(B, { id: 'cu' }, { balance: 1 });
          },
          { retries: 0 },
        )
        .catch((e: unknown) => e);
      expect((error as TransactionError).code).toBe('TX_COMMIT_UNKNOWN');
      await pg.start();
      const report = await sweep(group, { expiryMs: 0 });
      expect(report).toMatchObject({ abortedExpired: 1, rolledBack: 1, unresolved: 0 });
      expect(
        await setup.run(async (tx) => [
          (await tx.get(A, { id: 'cu' }))?.balance,
          (await tx.get(B, { id: 'cu' }))?.balance,
        ]),
      ).toEqual([100, 100]);
    } finally {
      await group.close();
    }
  });
});
