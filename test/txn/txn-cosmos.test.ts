/**
 * Consensus Commit on Cosmos DB: one real cosmosdb-server, two storages on it (two database prefixes, as
 * two accounts would be), the Coordinator on Cosmos DB; and a mixed group with SQLite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startLocalCosmos, type LocalCosmos } from '../../src/lab/local-servers/cosmosdb-server.ts';
import { transactionSuite } from './transaction-suite.ts';

let server: LocalCosmos;
beforeAll(async () => {
  server = await startLocalCosmos();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
});

transactionSuite('bank_a and bank_b on two Cosmos DB storages, Coordinator on Cosmos DB', () =>
  Promise.resolve({
    config: {
      storages: { one: server.connection('one_'), two: server.connection('two_') },
      namespaces: { bank_a: 'one', bank_b: 'two', coordinator: 'one' },
    },
    cleanup: () => Promise.resolve(),
  }),
);

transactionSuite('bank_a on SQLite, bank_b and the Coordinator on Cosmos DB', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-txn-cosmos-'));
  return {
    config: {
      storages: { lite: { kind: 'sqlite', path: join(dir, 'a.sqlite') }, cos: server.connection('mixed_') },
      namespaces: { bank_a: 'lite', bank_b: 'cos', coordinator: 'cos' },
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
