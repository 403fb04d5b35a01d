/**
 * The rds engine's other two paths, its real AWS SDK adapter against the RDS control-plane fake: an RDS for
 * MariaDB instance (real MariaDB, binlog replayed to the second) and an Aurora PostgreSQL cluster
 * (RestoreDBClusterToPointInTime, then CreateDBInstance in the new cluster; real PostgreSQL WAL PITR). Each
 * restore holds exactly the window's data: the change before the restore time is in, the one after is out.
 * Last, swapping names (target swapNames, --force): refused without --force, listed by the dry run, and a
 * crash between the two renames (and one that loses the second rename's answer) resumes to the same end state.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { rdsEngine } from '../../../src/engines/rds/engine.ts';
import type { LocalMariaDb } from '../../../src/lab/local-servers/mariadb-server.ts';
import type { ArchivedPostgres, PitrPostgresServer } from '../../../src/lab/fakes/pitr-postgres.ts';
import { RdsControlPlaneFake } from '../../../src/lab/fakes/rds-control-plane-fake.ts';
import { backupContext, never, quietLog, tempDirStore } from '../support.ts';

let fake: RdsControlPlaneFake;
let maria: LocalMariaDb;
let aurora: ArchivedPostgres;
let store: Awaited<ReturnType<typeof tempDirStore>>;

beforeAll(async () => {
  fake = await RdsControlPlaneFake.start({ skewMs: -2_000, lagMs: 300 });
  [maria, aurora] = await Promise.all([
    fake.createMariaDbInstance({
      id: 'bank-maria',
      parameterGroup: 'mariadb106',
      tags: [{ key: 'team', value: 'pay' }],
    }),
    fake.createAuroraPostgresCluster({
      id: 'bank-aurora',
      parameterGroup: 'aurora-pg15',
      subnetGroup: 'private-b',
      securityGroupIds: ['sg-aur'],
      tags: [{ key: 'team', value: 'ledger' }],
    }),
  ]);
  await maria.query('CREATE DATABASE bank');
  await maria.query(
    'CREATE TABLE bank.accounts (id varchar(8) PRIMARY KEY, balance bigint NOT NULL) ENGINE=InnoDB',
  );
  await maria.query(`INSERT INTO bank.accounts VALUES ('a', 100), ('b', 100)`);
  await aurora.query('CREATE DATABASE bank');
  await aurora.query('CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL)', [], 'bank');
  await aurora.query(`INSERT INTO accounts VALUES ('a', 100), ('b', 100)`, [], 'bank');
  store = await tempDirStore();
}, 240_000);
afterAll(async () => {
  await fake?.destroy();
  await store?.destroy();
});

const mariaSum = async (db: { query(sql: string): Promise<unknown> }) =>
  Number(((await db.query('SELECT sum(balance) AS s FROM bank.accounts')) as { s: number }[])[0]?.s);
const pgSum = async (db: PitrPostgresServer) =>
  Number((await db.query('SELECT sum(balance)::int AS s FROM accounts', [], 'bank')).rows[0].s);

/** A backup as the orchestrator runs it: `write(1)` well before the window's mid-time, `write(1000)` after. */
async function backup(
  spec: MemberSpec,
  backupId: string,
  write: (delta: number) => Promise<void>,
): Promise<MemberRecord> {
  const session = rdsEngine.openBackup(backupContext(store, spec, backupId), rdsEngine.parseOptions(spec));
  try {
    expect((await session.preflight(never)).every((c) => c.ok)).toBe(true);
    await write(1);
    await sleep(2_500); // 1 s Date header resolution + 1 s binlog granularity
    const clock = await session.measureClock?.(never);
    await session.capture(never);
    const midMs = Date.now();
    await sleep(2_500);
    await write(1000);
    const finished = await session.finish(
      { pausedAtMs: midMs, unpauseStartedAtMs: midMs, midMs, ...(clock === undefined ? {} : { clock }) },
      never,
    );
    await session.horizon(finished.handle, never);
    return { backupId, member: spec, handle: finished.handle, artifacts: finished.artifacts };
  } finally {
    await session.close();
  }
}

async function restore(record: MemberRecord, target?: Record<string, unknown>) {
  const session = rdsEngine.openRestore(
    { record, target, artifacts: store, log: quietLog },
    rdsEngine.parseOptions(record.member),
  );
  try {
    const plan = (await session.plan()).map((s) => s.detail ?? '').join('\n');
    const restored = await session.restore({ force: false, signal: never });
    await session.markFinished();
    return { plan, restored };
  } finally {
    await session.close();
  }
}

const options = (o: Record<string, unknown>) => ({
  region: 'us-east-1',
  endpoint: fake.endpoint,
  dummyCredentials: true,
  pollMs: 50,
  ...o,
});

describe('rds engine over the RDS fake: MariaDB instance and Aurora PostgreSQL cluster', () => {
  it('restores an RDS for MariaDB instance to the window (binlog PITR)', async () => {
    const spec: MemberSpec = {
      name: 'my',
      engine: 'rds',
      connection: { kind: 'mysql', host: maria.host, port: maria.port, user: 'root' },
      namespaces: ['bank'],
      options: options({ instance: 'bank-maria' }),
    };
    const before = { v: 0 };
    const record = await backup(spec, 'bk-maria', async (d) => {
      await maria.query(`UPDATE bank.accounts SET balance = balance + ${d}`);
      if (d === 1) before.v = await mariaSum(maria);
    });
    const { plan, restored } = await restore(record);
    expect(plan).toContain('RestoreDBInstanceToPointInTime SourceDBInstanceIdentifier=bank-maria');
    const copy = fake.server<LocalMariaDb>('bank-maria-sp-bkmaria');
    expect(restored.connection).toMatchObject({ kind: 'mysql', port: copy?.port, user: 'root' });
    expect(copy).toBeDefined();
    if (copy !== undefined) expect(await mariaSum(copy)).toBe(before.v); // +1 in, +1000 out
    expect(before.v).toBe(202);
  }, 300_000);

  it('restores an Aurora PostgreSQL cluster to the window, then adds an instance to it', async () => {
    const spec: MemberSpec = {
      name: 'pg',
      engine: 'rds',
      connection: {
        kind: 'postgres',
        host: aurora.host,
        port: aurora.port,
        user: 'postgres',
        database: 'bank',
      },
      namespaces: ['bank'],
      options: options({ cluster: 'bank-aurora' }),
    };
    const before = { v: 0 };
    const record = await backup(spec, 'bk-aurora', async (d) => {
      await aurora.query(`UPDATE accounts SET balance = balance + ${d}`, [], 'bank');
      if (d === 1) before.v = await pgSum(aurora);
    });
    const noClass = rdsEngine.openRestore(
      { record, target: undefined, artifacts: store, log: quietLog },
      rdsEngine.parseOptions(spec),
    );
    await expect(noClass.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_INVALID',
    });
    await noClass.close();

    const { plan, restored } = await restore(record, {
      instance: 'bank-aurora-r1',
      instanceClass: 'db.r6g.large',
    });
    expect(plan).toMatch(
      /RestoreDBClusterToPointInTime SourceDBClusterIdentifier=bank-aurora DBClusterIdentifier=bank-aurora-sp-bkaurora RestoreType=full-copy RestoreToTime=\S+Z DBClusterParameterGroupName=aurora-pg15 DBSubnetGroupName=private-b VpcSecurityGroupIds=sg-aur/,
    );
    expect(plan).toContain(
      'CreateDBInstance DBInstanceIdentifier=bank-aurora-r1 DBClusterIdentifier=bank-aurora-sp-bkaurora DBInstanceClass=db.r6g.large Engine=aurora-postgresql',
    );
    const calls = fake.calls.filter((c) => c.startsWith('Restore') || c.startsWith('Create'));
    expect(calls).toEqual([
      'RestoreDBInstanceToPointInTime',
      'RestoreDBClusterToPointInTime',
      'CreateDBInstance',
    ]);
    const copy = fake.server('bank-aurora-sp-bkaurora');
    expect(restored.connection).toMatchObject({ kind: 'postgres', port: copy?.port, database: 'bank' });
    expect(fake.server('bank-aurora-r1')).toBe(copy);
    expect(copy).toBeDefined();
    if (copy !== undefined) expect(await pgSum(copy)).toBe(before.v); // +1 in, +1000 out
    expect(before.v).toBe(202);
  }, 300_000);

  // Runs last: it renames the MariaDB source instance.
  it('swaps names with --force, resuming after a crash between the two renames', async () => {
    const spec: MemberSpec = {
      name: 'my',
      engine: 'rds',
      connection: { kind: 'mysql', host: maria.host, port: maria.port, user: 'root' },
      namespaces: ['bank'],
      options: options({ instance: 'bank-maria' }),
    };
    const before = { v: 0 };
    const record = await backup(spec, 'bk-swap', async (d) => {
      await maria.query(`UPDATE bank.accounts SET balance = balance + ${d}`);
      if (d === 1) before.v = await mariaSum(maria);
    });
    const open = () =>
      rdsEngine.openRestore(
        { record, target: { instance: 'bank-maria-new', swapNames: true }, artifacts: store, log: quietLog },
        rdsEngine.parseOptions(spec),
      );
    const callsBefore = fake.calls.length;
    const refused = open();
    await expect(refused.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'MANAGED_SWAP_NEEDS_FORCE',
      hint: expect.stringContaining('--force'),
    });
    const plan = (await refused.plan()).map((s) => `${s.destructive ? '!' : ' '} ${s.detail ?? ''}`);
    await refused.close();
    expect(fake.calls.slice(callsBefore).filter((c) => !c.startsWith('Describe'))).toEqual([]);
    expect(plan).toContain(
      '! ModifyDBInstance DBInstanceIdentifier=bank-maria NewDBInstanceIdentifier=bank-maria-pre-restore-bkswap ApplyImmediately=true',
    );
    expect(plan).toContain(
      '! ModifyDBInstance DBInstanceIdentifier=bank-maria-new NewDBInstanceIdentifier=bank-maria ApplyImmediately=true',
    );

    // The crash: the second rename fails after the first one was applied.
    fake.beforeAction = (action, form) => {
      if (action === 'ModifyDBInstance' && form.get('DBInstanceIdentifier') === 'bank-maria-new')
        throw new Error('simulated crash before the second rename');
    };
    const first = open();
    await expect(first.restore({ force: true, signal: never })).rejects.toThrow(/simulated crash/);
    await first.close();
    fake.beforeAction = undefined;
    expect(fake.instanceIds()).toEqual(
      expect.arrayContaining(['bank-maria-pre-restore-bkswap', 'bank-maria-new']),
    );
    expect(fake.instanceIds()).not.toContain('bank-maria');

    // A second crash: the second rename lands, but its answer is lost (the step is not recorded).
    fake.afterAction = (action) => {
      if (action === 'ModifyDBInstance') throw new Error('simulated crash after the second rename');
    };
    const interrupted = open();
    expect((await interrupted.inspect(never)).state).toBe('in-progress');
    await expect(interrupted.restore({ force: true, signal: never })).rejects.toThrow(/after the second/);
    await interrupted.close();
    fake.afterAction = undefined;
    expect(fake.instanceIds()).not.toContain('bank-maria-new');

    const second = open();
    expect((await second.inspect(never)).state).toBe('in-progress');
    const { connection } = await second.restore({ force: true, signal: never });
    await second.markFinished();
    await second.close();
    expect(fake.instanceIds()).toEqual(
      expect.arrayContaining(['bank-maria', 'bank-maria-pre-restore-bkswap']),
    );
    expect(fake.instanceIds()).not.toContain('bank-maria-new');
    expect(fake.server('bank-maria-pre-restore-bkswap')).toBe(maria); // the old source, parked
    const restored = fake.server<LocalMariaDb>('bank-maria');
    expect(restored).not.toBe(maria);
    expect(connection).toMatchObject({ kind: 'mysql', port: restored?.port });
    if (restored !== undefined) expect(await mariaSum(restored)).toBe(before.v);
    expect(before.v).not.toBe(await mariaSum(maria)); // the source moved on (+1000); the restore did not
    const renames = fake.calls.filter((c) => c === 'ModifyDBInstance');
    expect(renames).toHaveLength(3); // the source once, the restored one twice (refused, then landed); none after

    const again = open();
    expect((await again.inspect(never)).state).toBe('restored');
    await again.close();
  }, 300_000);
});
