/**
 * Restores against real PostgreSQL + SQLite: secrets never make a backup unrestorable (a `passwordEnv`
 * member restores; a missing variable stops the restore before anything changes, naming the member and the
 * variable; an inline password is refused at plan load), and the restore is planned whole (a PostgreSQL
 * target holding data refuses the restore before the SQLite member is written or a hook runs; the CLI's dry
 * run exits non-zero for it).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan, parsePlan, type Plan } from '../../src/plan/load-plan.ts';
import { startCli } from '../../src/lab/trials/cli-process.ts';
import type { GroupConfig } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';
import { startAdminNode, type AdminNode } from './helpers.ts';

const PW_ENV = 'SP_TEST_RESTORE_PG_PW';
let dir: string;
let pg: LocalPostgres;
let node: AdminNode;
let catalog: Catalog;
let planFile: string;
let plan: Plan;
let backupId: string;

function planValue(pgConnection: Record<string, unknown>): Record<string, unknown> {
  return {
    version: 1,
    group: 'pgsqlite',
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
        name: 'b',
        engine: 'sqlite',
        connection: { kind: 'sqlite', path: join(dir, 'b.db') },
        namespaces: ['bank_b'],
      },
    ],
    artifacts: { dir: join(dir, 'artifacts') },
    catalog: { path: join(dir, 'catalog.db') },
    restore: {
      hooks: {
        before: [`echo before >> ${join(dir, 'hooks.log')}`],
        after: [`echo after >> ${join(dir, 'hooks.log')}`],
      },
    },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sp-restore-servers-'));
  [pg, node] = await Promise.all([startLocalPostgres(), startAdminNode()]);
  await pg.createDatabase('bank');
  const group: GroupConfig = {
    storages: { pg: pg.connection('bank'), b: { kind: 'sqlite', path: join(dir, 'b.db') } },
    namespaces: { bank_a: 'pg', coordinator: 'pg', bank_b: 'b' },
  };
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: 10, initialBalance: 1000 });
  } finally {
    await opened.close();
  }
  process.env[PW_ENV] = pg.passwordUser.password;
  planFile = join(dir, 'plan.json');
  await writeFile(
    planFile,
    JSON.stringify(planValue({ ...pg.connection('bank'), user: pg.passwordUser.user, passwordEnv: PW_ENV })),
  );
  plan = loadPlan(planFile);
  catalog = openCatalog(plan.catalogPath);
  const result = await runBackup({ plan, catalog });
  expect(result.state).toBe('complete');
  backupId = result.backupId;
}, 180_000);

afterAll(async () => {
  delete process.env[PW_ENV];
  catalog?.close();
  await Promise.all([pg?.destroy(), node?.server.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('restore on real PostgreSQL + SQLite', () => {
  it('refuses a plan with an inline password (the backup could never be restored)', () => {
    // Old code accepted it, completed the backup, and the restore read the redacted "***" from the catalog.
    expect(() =>
      parsePlan(
        planValue({
          ...pg.connection('bank'),
          user: pg.passwordUser.user,
          password: pg.passwordUser.password,
        }),
        { baseDir: dir },
      ),
    ).toThrow(
      expect.objectContaining({ code: 'PLAN_INLINE_PASSWORD', hint: expect.stringContaining('passwordEnv') }),
    );
  });

  it('restores a passwordEnv member: the catalog kept the source, the value is read again at restore', async () => {
    const report = await runRestore(catalog, {
      backupId,
      plan,
      invariants: [bankInvariants],
      intoDir: join(dir, 'r1'),
      targets: { pg: { database: 'bank_r1' } },
    });
    expect(report.state).toBe('restored');
    expect(report.check?.stats).toMatchObject({ accounts: 10, totalBalance: 10_000 });
  }, 60_000);

  it('a missing password variable stops the restore before anything changes, naming the member and the variable', async () => {
    delete process.env[PW_ENV];
    try {
      const error = await runRestore(catalog, {
        backupId,
        plan,
        intoDir: join(dir, 'r2'),
        targets: { pg: { database: 'bank_never' } },
      }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'PASSWORD_UNAVAILABLE' });
      expect(String((error as Error).message)).toContain('member pg');
      expect(String((error as Error).message)).toContain(PW_ENV);
      expect(
        (await pg.query("SELECT datname FROM pg_database WHERE datname = 'bank_never'")).rows,
      ).toHaveLength(0);
      expect(existsSync(join(dir, 'r2'))).toBe(false);
    } finally {
      process.env[PW_ENV] = pg.passwordUser.password;
    }
  });

  it('NEGATIVE: a PostgreSQL target holding data refuses the whole restore up front; the CLI dry run exits non-zero', async () => {
    await rm(join(dir, 'hooks.log'), { force: true });
    await pg.createDatabase('occupied');
    await pg.query('CREATE TABLE t (id int)', [], 'occupied');
    const into = join(dir, 'r3');
    const targets = { pg: { database: 'occupied' } };
    const error = await runRestore(catalog, { backupId, plan, intoDir: into, targets }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    expect(existsSync(join(into, 'b.db'))).toBe(false);
    expect(existsSync(join(dir, 'hooks.log'))).toBe(false);

    const env = { ...process.env, STILLPOINT_CATALOG: plan.catalogPath };
    const common = ['restore', backupId, '--plan', planFile, '--into', into, '--dry-run'];
    const dry = await startCli({ args: [...common, '--target', `pg=${JSON.stringify(targets.pg)}`], env })
      .exited;
    // Old code: the dry run listed the checks without running them and exited 0.
    expect(dry.code).toBe(2);
    expect(dry.stdout).toContain('REFUSED');
    expect(dry.stdout).toContain('occupied');
    const ok = await startCli({ args: [...common, '--target', 'pg={"database":"bank_fresh"}'], env }).exited;
    expect(ok.stdout).toContain('would go ahead');
    expect(ok.code).toBe(0);
  }, 60_000);

  it('per-target credentials: a target with its own user and passwordEnv needs nothing from the member', async () => {
    delete process.env[PW_ENV];
    process.env.SP_TEST_TARGET_PW = pg.passwordUser.password;
    try {
      const target = { database: 'bank_creds', user: pg.passwordUser.user, passwordEnv: 'SP_TEST_TARGET_PW' };
      const report = await runRestore(catalog, {
        backupId,
        plan,
        invariants: [bankInvariants],
        intoDir: join(dir, 'r4'),
        targets: { pg: target },
      });
      expect(report.state).toBe('restored');
      expect(JSON.stringify(report)).not.toContain(pg.passwordUser.password);
    } finally {
      delete process.env.SP_TEST_TARGET_PW;
      process.env[PW_ENV] = pg.passwordUser.password;
    }
  }, 60_000);

  it('a restore that was not checked ends restored-unchecked with exit 3, never 0', async () => {
    const env = { ...process.env, STILLPOINT_CATALOG: plan.catalogPath };
    const run = await startCli({
      args: [
        'restore',
        backupId,
        '--plan',
        planFile,
        '--into',
        join(dir, 'r5'),
        '--target',
        'pg={"database":"bank_r5"}',
        '--no-check',
      ],
      env,
    }).exited;
    // Old code: "check: skipped (--no-check)" and exit 0.
    expect(run.stdout).toContain('state: restored-unchecked');
    expect(run.code).toBe(3);
  }, 60_000);
});
