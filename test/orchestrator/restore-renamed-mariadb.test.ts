/**
 * A MariaDB member restored under other names on the SAME server as its source (the `scalardb` table catalog
 * renamed too) is checked, not skipped (issue 19 item 2), with a negative control on the renamed copy.
 * Needs the MariaDB engine on the session contract (branch wave-mariadb).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { parsePlan, type Plan } from '../../src/plan/load-plan.ts';
import type { GroupConfig } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';
import { startAdminNode, type AdminNode } from './helpers.ts';

const PW_ENV = 'SP_TEST_RESTORE_PG_PW';
let dir: string;
let pg: LocalPostgres;
let maria: LocalMariaDb;
let catalog: Catalog;
let plan: Plan;
let backupId: string;
let node: AdminNode;

function planValue(pgConnection: Record<string, unknown>): Record<string, unknown> {
  return {
    version: 1,
    group: 'mixed',
    mode: 'snapshot',
    clusters: [{ name: 'nodes', targets: { addresses: [`127.0.0.1:${node.port}`] }, leaseMs: 5000 }],
    members: [
      {
        name: 'pg',
        engine: 'postgres',
        connection: pgConnection,
        namespaces: ['bank_a', 'coordinator'],
        options: { method: 'logical' },
      },
      {
        name: 'maria',
        engine: 'mariadb',
        connection: maria.connection(),
        namespaces: ['bank_b'],
        options: { method: 'logical' },
      },
    ],
    artifacts: { dir: join(dir, 'artifacts') },
    catalog: { path: join(dir, 'catalog.db') },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sp-restore-servers-'));
  [pg, maria, node] = await Promise.all([startLocalPostgres(), startLocalMariaDb(), startAdminNode()]);
  await pg.createDatabase('bank');
  const group: GroupConfig = {
    storages: { pg: pg.connection('bank'), maria: maria.connection() },
    namespaces: { bank_a: 'pg', coordinator: 'pg', bank_b: 'maria' },
  };
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: 10, initialBalance: 1000 });
  } finally {
    await opened.close();
  }
  process.env[PW_ENV] = pg.passwordUser.password;
  plan = parsePlan(planValue({ ...pg.connection('bank'), user: pg.passwordUser.user, passwordEnv: PW_ENV }), {
    baseDir: dir,
  });
  catalog = openCatalog(plan.catalogPath);
  const result = await runBackup({ plan, catalog });
  expect(result.state).toBe('complete');
  backupId = result.backupId;
}, 180_000);

afterAll(async () => {
  delete process.env[PW_ENV];
  catalog?.close();
  await Promise.all([pg?.destroy(), maria?.destroy(), node?.server.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('restore renamed on the same MariaDB server', () => {
  it('checks MariaDB databases restored under other names on the same server (scalardb catalog included)', async () => {
    const report = await runRestore(catalog, {
      backupId,
      plan,
      invariants: [bankInvariants],
      targets: { pg: { database: 'bank_renamed' } },
    });
    // Old code: "check: skipped (… after renaming)" and ok = true.
    expect(report.checkSkipped).toBeNull();
    expect(report.state).toBe('restored');
    expect(report.check?.stats).toMatchObject({ accounts: 10, totalBalance: 10_000 });
    const renames = report.group?.renames?.maria ?? {};
    expect(Object.keys(renames).sort()).toEqual(['bank_b', 'scalardb']);
    expect(renames.bank_b).not.toBe('bank_b');

    // Negative control: damage the renamed copy (not the source) and the same check fails.
    const conn = await mysql.createConnection({
      host: '127.0.0.1',
      port: maria.port,
      user: maria.connection().user,
    });
    try {
      await conn.query(
        `UPDATE \`${renames.bank_b}\`.accounts SET balance = balance + 7 WHERE account_id = 1`,
      );
    } finally {
      await conn.end();
    }
    const { checkGroup } = await import('../../src/checker/check.ts');
    const damaged = await checkGroup(report.group!, { invariants: [bankInvariants] });
    expect(damaged.violations.map((v) => v.kind)).toEqual(['balance-not-conserved']);
  }, 120_000);
});
