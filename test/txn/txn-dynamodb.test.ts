/**
 * Consensus Commit on DynamoDB: one real dynalite, two storages on it (two table prefixes, as two
 * ScalarDB clusters' namespaces would be), the Coordinator on DynamoDB; and a mixed group with SQLite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startLocalDynalite, type LocalDynalite } from '../../src/lab/local-servers/dynalite-server.ts';
import { transactionSuite } from './transaction-suite.ts';

let server: LocalDynalite;
beforeAll(async () => {
  server = await startLocalDynalite();
});
afterAll(async () => {
  await server?.destroy();
});

transactionSuite('bank_a and bank_b on two DynamoDB storages, Coordinator on DynamoDB', () =>
  Promise.resolve({
    config: {
      storages: { one: server.connection('one_'), two: server.connection('two_') },
      namespaces: { bank_a: 'one', bank_b: 'two', coordinator: 'one' },
    },
    cleanup: () => Promise.resolve(),
  }),
);

transactionSuite('bank_a on SQLite, bank_b and the Coordinator on DynamoDB', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-txn-dyn-'));
  return {
    config: {
      storages: { lite: { kind: 'sqlite', path: join(dir, 'a.sqlite') }, dyn: server.connection('mixed_') },
      namespaces: { bank_a: 'lite', bank_b: 'dyn', coordinator: 'dyn' },
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
