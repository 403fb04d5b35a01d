import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transactionSuite } from './transaction-suite.ts';

transactionSuite('two SQLite files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-txn-'));
  return {
    config: {
      storages: {
        one: { kind: 'sqlite', path: join(dir, 'one.sqlite') },
        two: { kind: 'sqlite', path: join(dir, 'two.sqlite') },
      },
      namespaces: { bank_a: 'one', bank_b: 'two', coordinator: 'one' },
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
