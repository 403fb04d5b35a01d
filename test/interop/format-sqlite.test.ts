/** Issue 13 item 4 on SQLite: one database file per case, shared by real ScalarDB (sqlite-jdbc) and stillpoint. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe } from 'vitest';
import type { Row } from '../../src/txn/contract.ts';
import { formatSuite } from './format-suite.ts';
import { interopSkipReason } from './harness.ts';

const skip = await interopSkipReason();
if (skip !== undefined) console.warn(`interop skipped: ${skip}`);

let dir = '';
describe.skipIf(skip !== undefined)(`SQLite${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stillpoint-interop-sqlite-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  formatSuite({
    name: 'SQLite',
    dir: () => dir,
    fresh(label) {
      const path = join(dir, `${label}.db`);
      return Promise.resolve({
        properties: {
          'scalar.db.storage': 'jdbc',
          'scalar.db.contact_points': `jdbc:sqlite:${path}`,
          'scalar.db.username': '',
          'scalar.db.password': '',
        },
        group: {
          storages: { s: { kind: 'sqlite', path } },
          namespaces: { bank_a: 's', bank_b: 's', coordinator: 's' },
        },
        table: (namespace, table) => `"${namespace}$${table}"`,
        sql(statement) {
          const db = new Database(path);
          try {
            const prepared = db.prepare(statement);
            return Promise.resolve(prepared.reader ? (prepared.all() as Row[]) : (prepared.run(), []));
          } finally {
            db.close();
          }
        },
      });
    },
  });
});
