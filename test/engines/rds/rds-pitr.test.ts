/**
 * The rds engine, its real AWS SDK adapter, against the RDS control-plane fake whose instances are real
 * PostgreSQL servers with WAL archiving: preflight checks automated backups and retention; a backup's time
 * handle (service clock measured from the Date header) restores a NEW instance that holds exactly the data
 * as of the window, with the source's parameter group, subnet group, security groups and tags; the member's
 * connection points at the new endpoint; an interrupted restore resumes without a second restore request.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { AwsRdsControlPlane } from '../../../src/engines/rds/aws-control-plane.ts';
import { rdsEngine } from '../../../src/engines/rds/engine.ts';
import { RdsControlPlaneFake } from '../../../src/lab/fakes/rds-control-plane-fake.ts';
import type { ArchivedPostgres } from '../../../src/lab/fakes/pitr-postgres.ts';
import { backupContext, never, quietLog, tempDirStore } from '../support.ts';

let fake: RdsControlPlaneFake;
let source: ArchivedPostgres;
let store: Awaited<ReturnType<typeof tempDirStore>>;

beforeAll(async () => {
  fake = await RdsControlPlaneFake.start({ skewMs: 4_000, lagMs: 300 });
  source = await fake.createPostgresInstance({
    id: 'bank-db',
    parameterGroup: 'pg15-stillpoint',
    subnetGroup: 'private-a',
    securityGroupIds: ['sg-0a1', 'sg-0b2'],
    tags: [{ key: 'team', value: 'payments' }],
  });
  await source.query('CREATE DATABASE bank');
  await source.query('CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL)', [], 'bank');
  await source.query(`INSERT INTO accounts VALUES ('a', 100), ('b', 100)`, [], 'bank');
  store = await tempDirStore();
}, 180_000);
afterAll(async () => {
  await fake?.destroy();
  await store?.destroy();
});

const member = (options: Record<string, unknown> = {}): MemberSpec => ({
  name: 'pg',
  engine: 'rds',
  connection: { kind: 'postgres', host: source.host, port: source.port, user: 'postgres', database: 'bank' },
  namespaces: ['bank'],
  options: {
    region: 'us-east-1',
    endpoint: fake.endpoint,
    dummyCredentials: true,
    instance: 'bank-db',
    pollMs: 50,
    ...options,
  },
});

/** A backup as the orchestrator runs it, the data changing 1.5 s before and after the window's mid-time. */
async function backup(backupId: string): Promise<MemberRecord> {
  const spec = member();
  const options = rdsEngine.parseOptions(spec);
  const session = rdsEngine.openBackup(backupContext(store, spec, backupId), options);
  try {
    expect((await session.preflight(never)).every((c) => c.ok)).toBe(true);
    await source.query(`UPDATE accounts SET balance = balance + 1`, [], 'bank');
    const before = (await source.query('SELECT sum(balance)::int AS s FROM accounts', [], 'bank')).rows[0]
      .s as number;
    await sleep(1_500); // the Date header has 1 s resolution: keep the writes out of the uncertainty
    const clock = await session.measureClock?.(never);
    await session.capture(never);
    const midMs = Date.now();
    await sleep(1_500);
    await source.query(`UPDATE accounts SET balance = balance + 1000`, [], 'bank');
    const finished = await session.finish(
      { pausedAtMs: midMs, unpauseStartedAtMs: midMs, midMs, ...(clock === undefined ? {} : { clock }) },
      never,
    );
    expect(finished.handle.kind).toBe('time');
    if (finished.handle.kind === 'time')
      expect(Math.abs(finished.handle.clockOffsetMs - 4_000)).toBeLessThan(1_500);
    await session.horizon(finished.handle, never);
    return {
      backupId,
      member: spec,
      handle: finished.handle,
      artifacts: finished.artifacts,
      expected: before,
    } as MemberRecord & { expected: number };
  } finally {
    await session.close();
  }
}

const openRestore = (record: MemberRecord, target?: Record<string, unknown>) =>
  rdsEngine.openRestore(
    { record, target, artifacts: store, log: quietLog },
    rdsEngine.parseOptions(record.member),
  );

describe('rds engine over the RDS fake (real PostgreSQL PITR)', () => {
  it('preflight refuses an instance without automated backups or with too short a retention', async () => {
    const check = async (options: Record<string, unknown>) => {
      const spec = member(options);
      const s = rdsEngine.openBackup(backupContext(store, spec, 'pre'), rdsEngine.parseOptions(spec));
      try {
        return (await s.preflight(never)).find((c) => c.name === 'rds automated backups');
      } finally {
        await s.close();
      }
    };
    expect((await check({}))?.ok).toBe(true);
    expect(await check({ minRetentionDays: 14 })).toMatchObject({
      ok: false,
      detail: expect.stringContaining('shorter'),
    });
    fake.setRetentionDays('bank-db', 0);
    try {
      expect(await check({})).toMatchObject({ ok: false, detail: expect.stringContaining('OFF') });
    } finally {
      fake.setRetentionDays('bank-db', 7);
    }
    expect(() => rdsEngine.parseOptions(member({ cluster: 'x' }))).toThrow(
      /exactly one of instance or cluster/,
    );
  }, 60_000);

  it('restores a new instance to the window, with the source placement, and resumes when interrupted', async () => {
    const record = await backup('bk-1');
    const expected = (record as MemberRecord & { expected: number }).expected;

    const plan = (await openRestore(record).plan()).map((s) => s.detail ?? '').join('\n');
    expect(plan).toMatch(
      /RestoreDBInstanceToPointInTime SourceDBInstanceIdentifier=bank-db TargetDBInstanceIdentifier=bank-db-sp-bk1 RestoreTime=\S+Z/,
    );
    expect(plan).toContain(
      'DBParameterGroupName=pg15-stillpoint DBSubnetGroupName=private-a VpcSecurityGroupIds=sg-0a1,sg-0b2',
    );
    expect(fake.calls).not.toContain('RestoreDBInstanceToPointInTime'); // a plan calls nothing

    // First attempt: aborted while the new instance is still creating.
    const first = openRestore(record);
    expect((await first.inspect(never)).state).toBe('absent');
    const abort = new AbortController();
    const cut = (async () => {
      await expect
        .poll(() => fake.calls.includes('RestoreDBInstanceToPointInTime'), { timeout: 60_000 })
        .toBe(true);
      abort.abort();
    })();
    await expect(first.restore({ force: false, signal: abort.signal })).rejects.toThrow();
    await cut;
    await first.close();

    const second = openRestore(record);
    expect((await second.inspect(never)).state).toBe('in-progress');
    const restored = await second.restore({ force: false, signal: never }).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${fake.failure('bank-db-sp-bk1') ?? ''}`);
    });
    expect(fake.calls.filter((c) => c === 'RestoreDBInstanceToPointInTime')).toHaveLength(1);
    const server = fake.server('bank-db-sp-bk1');
    expect(restored.connection).toMatchObject({
      kind: 'postgres',
      host: '127.0.0.1',
      port: server?.port,
      database: 'bank',
      user: 'postgres',
    });
    const sum = (await server?.query('SELECT sum(balance)::int AS s FROM accounts', [], 'bank'))?.rows[0].s;
    expect(sum).toBe(expected); // as of the window: the +1 is in, the +1000 is not

    const cp = new AwsRdsControlPlane({
      region: 'us-east-1',
      endpoint: fake.endpoint,
      dummyCredentials: true,
    });
    const created = await cp.describeInstance('bank-db-sp-bk1');
    await cp.close();
    expect(created).toMatchObject({
      status: 'available',
      parameterGroup: 'pg15-stillpoint',
      subnetGroup: 'private-a',
      securityGroupIds: ['sg-0a1', 'sg-0b2'],
    });
    expect(created?.tags).toEqual([
      { key: 'team', value: 'payments' },
      { key: 'stillpoint:restore-of', value: 'bk-1' },
    ]);

    await second.markFinished();
    await second.close();
    const again = openRestore(record);
    expect((await again.inspect(never)).state).toBe('restored');
    await expect(again.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_NOT_EMPTY',
    });
    await again.close();
    const foreign = openRestore(record, { instance: 'bank-db' });
    expect((await foreign.inspect(never)).state).toBe('live-source');
    await foreign.close();
  }, 300_000);
});

const awsReady =
  process.env.STILLPOINT_AWS_TEST === '1' &&
  (process.env.AWS_ACCESS_KEY_ID !== undefined || process.env.AWS_PROFILE !== undefined);
describe.skipIf(!awsReady)(
  'real AWS RDS (skipped unless STILLPOINT_AWS_TEST=1 and AWS credentials exist)',
  () => {
    it('preflight and the service clock of STILLPOINT_AWS_RDS_INSTANCE', async () => {
      const spec: MemberSpec = {
        name: 'aws',
        engine: 'rds',
        connection: { kind: 'postgres', host: 'unused', port: 5432, user: 'postgres', database: 'postgres' },
        namespaces: [],
        options: {
          region: process.env.AWS_REGION ?? 'us-east-1',
          instance: process.env.STILLPOINT_AWS_RDS_INSTANCE ?? '',
        },
      };
      const s = rdsEngine.openBackup(backupContext(store, spec, 'aws'), rdsEngine.parseOptions(spec));
      try {
        expect((await s.preflight(never)).every((c) => c.ok)).toBe(true);
        expect(Math.abs((await s.measureClock?.(never))?.offsetMs ?? Infinity)).toBeLessThan(60_000);
      } finally {
        await s.close();
      }
    });
  },
);
