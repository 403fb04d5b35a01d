/**
 * The checker reads namespaces kept under other physical names on a real MariaDB server — a copy next to
 * its source, as a logical restore on the same server makes it (`bank_b` → `bank_b_copy`, and ScalarDB's
 * table catalog `scalardb` → `scalardb_copy`). Independent of the backup engine: the copy is made in SQL.
 * Negative controls: without the catalog's rename the copy cannot be read, and damage to the copy (not to the
 * source) is caught.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkGroup } from '../../src/checker/check.ts';
import { parseGroupConfig } from '../../src/config/group-config.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import type { GroupConfig } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';

let maria: LocalMariaDb;
let conn: mysql.Connection;

beforeAll(async () => {
  maria = await startLocalMariaDb();
  const group: GroupConfig = {
    storages: { m: maria.connection() },
    namespaces: { bank_a: 'm', bank_b: 'm', coordinator: 'm' },
  };
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: 8, initialBalance: 500 });
  } finally {
    await opened.close();
  }
  conn = await mysql.createConnection({ host: maria.host, port: maria.port, user: maria.user });
  for (const db of ['bank_a', 'bank_b', 'coordinator', 'scalardb']) {
    await conn.query(`CREATE DATABASE \`${db}_copy\``);
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ?',
      [db],
    );
    for (const { t } of tables as { t: string }[]) {
      await conn.query(`CREATE TABLE \`${db}_copy\`.\`${t}\` LIKE \`${db}\`.\`${t}\``);
      await conn.query(`INSERT INTO \`${db}_copy\`.\`${t}\` SELECT * FROM \`${db}\`.\`${t}\``);
    }
  }
}, 120_000);

afterAll(async () => {
  await conn?.end();
  await maria?.destroy();
});

describe('renamed namespaces on MariaDB', () => {
  const yaml = (): unknown => ({
    storages: { m: maria.connection() },
    namespaces: {
      bank_a: { storage: 'm', name: 'bank_a_copy' },
      bank_b: { storage: 'm', name: 'bank_b_copy' },
      coordinator: { storage: 'm', name: 'coordinator_copy' },
    },
    renames: { m: { scalardb: 'scalardb_copy' } },
  });

  it('checks the copy under its physical names, scalardb catalog included; damage to the copy is caught', async () => {
    const group = parseGroupConfig(yaml());
    expect(group.renames).toEqual({
      m: {
        bank_a: 'bank_a_copy',
        bank_b: 'bank_b_copy',
        coordinator: 'coordinator_copy',
        scalardb: 'scalardb_copy',
      },
    });
    const report = await checkGroup(group, { sweep: true, expiryMs: 0, invariants: [bankInvariants] });
    expect(report.violations).toEqual([]);
    expect(report.stats).toMatchObject({ accounts: 8, totalBalance: 4000 });

    // The copy's catalog is the one read: drop the SOURCE catalog and the copy still checks.
    await conn.query('DROP DATABASE scalardb');
    expect((await checkGroup(group, { invariants: [bankInvariants] })).ok).toBe(true);

    await conn.query('UPDATE bank_b_copy.accounts SET balance = balance + 1 WHERE account_id = 1');
    const damaged = await checkGroup(group, { invariants: [bankInvariants] });
    expect(damaged.violations.map((v) => v.kind)).toEqual(['balance-not-conserved']);
  }, 60_000);

  it('NEGATIVE: without the scalardb rename (the source catalog is gone) the copy cannot be read', async () => {
    const { renames: _drop, ...withoutCatalog } = yaml() as Record<string, unknown>;
    await expect(
      checkGroup(parseGroupConfig(withoutCatalog), { invariants: [bankInvariants] }),
    ).rejects.toMatchObject({ code: 'TXN_TABLE_NOT_FOUND' });
  });
});
