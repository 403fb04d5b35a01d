/**
 * Issue 13 item 4 on MariaDB: one server for the file. Namespaces are databases (server-wide), so each case
 * starts by dropping the bank, Coordinator and ScalarDB metadata databases.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { startLocalMariaDb, type LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import type { Row } from '../../src/txn/contract.ts';
import { featuresSuite } from './features-suite.ts';
import { formatSuite, type StoreFactory } from './format-suite.ts';
import { interopSkipReason } from './harness.ts';

const skip = await interopSkipReason();
if (skip !== undefined) console.warn(`interop skipped: ${skip}`);

let dir = '';
let server: LocalMariaDb;
describe.skipIf(skip !== undefined)(`MariaDB${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stillpoint-interop-maria-'));
    server = await startLocalMariaDb();
  });
  afterAll(async () => {
    await server?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const factory: StoreFactory = {
    name: 'MariaDB',
    dir: () => dir,
    async fresh() {
      for (const db of ['bank_a', 'bank_b', 'coordinator', 'scalardb'])
        await server.query(`DROP DATABASE IF EXISTS \`${db}\``);
      return {
        properties: {
          'scalar.db.storage': 'jdbc',
          'scalar.db.contact_points': `jdbc:mariadb://${server.host}:${server.port}/`,
          'scalar.db.username': server.user,
          'scalar.db.password': '',
        },
        group: {
          storages: { maria: server.connection() },
          namespaces: { bank_a: 'maria', bank_b: 'maria', coordinator: 'maria' },
        },
        table: (namespace, table) => `\`${namespace}\`.\`${table}\``,
        sql: async (statement) => {
          // A SELECT answers rows; an UPDATE answers a result header (no rows).
          const result = await server.query(statement);
          return Array.isArray(result) ? (result as Row[]) : [];
        },
      };
    },
  };
  formatSuite(factory);
  featuresSuite(factory);
});
