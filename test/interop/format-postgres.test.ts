/** Issue 13 item 4 on PostgreSQL: one server for the file, a fresh database per case (namespaces are schemas). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import type { Row } from '../../src/txn/contract.ts';
import { featuresSuite } from './features-suite.ts';
import { formatSuite, type StoreFactory } from './format-suite.ts';
import { interopSkipReason } from './harness.ts';

const skip = await interopSkipReason();
if (skip !== undefined) console.warn(`interop skipped: ${skip}`);

let dir = '';
let server: LocalPostgres;
let counter = 0;
describe.skipIf(skip !== undefined)(`PostgreSQL${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stillpoint-interop-pg-'));
    server = await startLocalPostgres();
  });
  afterAll(async () => {
    await server?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const factory: StoreFactory = {
    name: 'PostgreSQL',
    dir: () => dir,
    async fresh(label) {
      const database = `${label.replace(/-/g, '_')}_${++counter}`;
      await server.createDatabase(database);
      return {
        properties: {
          'scalar.db.storage': 'jdbc',
          'scalar.db.contact_points': `jdbc:postgresql://${server.host}:${server.port}/${database}`,
          'scalar.db.username': server.user,
          'scalar.db.password': '',
        },
        group: {
          storages: { pg: server.connection(database) },
          namespaces: { bank_a: 'pg', bank_b: 'pg', coordinator: 'pg' },
        },
        table: (namespace, table) => `"${namespace}"."${table}"`,
        sql: async (statement) => (await server.query(statement, [], database)).rows as Row[],
      };
    },
  };
  formatSuite(factory);
  featuresSuite(factory);
});
