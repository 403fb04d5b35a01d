/**
 * The dynamodb engine — its real AWS SDK adapter — against the wire-protocol PITR fake over a real
 * dynalite: preflight refuses tables without PITR,
 * a backup's time handle (with a service clock skewed by seconds) restores exactly the data as of the
 * window, in place through the alias dance or into new names, with PITR, auto-scaling, throughput, TTL,
 * tags and the stream re-applied; a restore interrupted after any step resumes to the same end state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberSpec } from '../../../src/engines/contract.ts';
import { AwsDynamoControlPlane } from '../../../src/engines/dynamodb/aws-control-plane.ts';
import { createDynamoEngine, dynamodbEngine as engine } from '../../../src/engines/dynamodb/engine.ts';
import { DynamoPitrFake } from '../../../src/lab/fakes/dynamodb-pitr-fake.ts';
import { startLocalDynalite, type LocalDynalite } from '../../../src/lab/local-servers/dynalite-server.ts';
import type { StorageConfig } from '../../../src/txn/contract.ts';
import { createStorage } from '../../../src/txn/storages/index.ts';
import { never, quietLog, tempDirStore } from '../support.ts';

const ACCOUNTS = { namespace: 'bank_a', table: 'accounts' };
let dyn: LocalDynalite;
let fake: DynamoPitrFake;
let store: Awaited<ReturnType<typeof tempDirStore>>;
/** The real adapter, pointed at the fake: set-up and assertions go through the same wire as the engine. */
let cp: AwsDynamoControlPlane;

beforeAll(async () => {
  dyn = await startLocalDynalite();
  fake = await DynamoPitrFake.start({
    dataEndpoint: dyn.endpoint,
    region: dyn.region,
    lagMs: 300,
    creatingMs: 100,
  });
  store = await tempDirStore();
  cp = new AwsDynamoControlPlane({
    kind: 'dynamodb',
    region: dyn.region,
    endpoint: fake.endpoint,
    dummyCredentials: true,
  });
});
afterAll(async () => {
  await cp?.close();
  await fake?.destroy();
  await dyn?.destroy();
  await store?.destroy();
});

const connection = (prefix: string): StorageConfig => ({
  kind: 'dynamodb',
  region: dyn.region,
  endpoint: fake.endpoint,
  dummyCredentials: true,
  prefix,
});
const member = (prefix: string, options: Record<string, unknown> = {}): MemberSpec => ({
  name: 'dyn',
  engine: 'dynamodb',
  connection: connection(prefix),
  namespaces: ['bank_a'],
  options: { pollMs: 20, ...options },
});

async function seed(prefix: string): Promise<void> {
  const s = await createStorage('dyn', connection(prefix));
  await s.createTable({
    ...ACCOUNTS,
    partitionKey: ['id'],
    clusteringKey: [],
    columns: { id: 'TEXT', balance: 'BIGINT' },
  });
  await s.mutate(
    ['a', 'b', 'c'].map((id) => ({
      kind: 'put' as const,
      table: ACCOUNTS,
      key: { id },
      values: { balance: 100 },
    })),
  );
  await s.close();
}

async function balances(c: StorageConfig): Promise<Record<string, unknown>> {
  const s = await createStorage('check', c);
  const out: Record<string, unknown> = {};
  for await (const row of s.scanAll(ACCOUNTS)) out[String(row.id)] = row.balance;
  await s.close();
  return out;
}

/**
 * A backup as the orchestrator runs it: preflight, clock inside the pause, a window of at least twice the
 * clock's uncertainty (the Date header's 1 s resolution dominates), finish, horizon.
 */
async function backup(spec: MemberSpec, backupId: string) {
  const options = engine.parseOptions(spec);
  const session = engine.openBackup(
    {
      backupId,
      member: spec,
      artifacts: store,
      artifactPrefix: `${backupId}/dyn/`,
      sharedPrefix: 'shared/dyn/',
      log: quietLog,
    },
    options,
  );
  const checks = await session.preflight(never);
  expect(checks.every((c) => c.ok)).toBe(true);
  const pausedAtMs = Date.now();
  const clock = await session.measureClock?.(never);
  await session.capture(never);
  const windowMs = 2 * (clock?.uncertaintyMs ?? 0) + 100;
  await new Promise((r) => setTimeout(r, Math.max(0, pausedAtMs + windowMs - Date.now())));
  const unpauseStartedAtMs = Date.now();
  const finished = await session.finish(
    {
      pausedAtMs,
      unpauseStartedAtMs,
      midMs: Math.round((pausedAtMs + unpauseStartedAtMs) / 2),
      ...(clock ? { clock } : {}),
    },
    never,
  );
  await session.horizon(finished.handle, never);
  await session.close();
  return {
    record: { backupId, member: spec, handle: finished.handle, artifacts: finished.artifacts },
    clock,
  };
}

describe('dynamodb engine over the PITR fake', () => {
  it('preflight refuses a table without PITR, and enablePitr turns it on', async () => {
    await seed('pf_');
    const spec = member('pf_');
    const session = engine.openBackup(
      {
        backupId: 'b0',
        member: spec,
        artifacts: store,
        artifactPrefix: 'b0/dyn/',
        sharedPrefix: 'shared/dyn/',
        log: quietLog,
      },
      engine.parseOptions(spec),
    );
    const checks = await session.preflight(never);
    expect(
      checks
        .filter((c) => !c.ok)
        .map((c) => c.name)
        .sort(),
    ).toEqual(['pitr pf_bank_a.accounts', 'pitr pf_scalardb.metadata']);
    const enabling = member('pf_', { enablePitr: true });
    expect(
      (
        await engine
          .openBackup(
            {
              backupId: 'b0',
              member: enabling,
              artifacts: store,
              artifactPrefix: 'b0/dyn/',
              sharedPrefix: 'shared/dyn/',
              log: quietLog,
            },
            engine.parseOptions(enabling),
          )
          .preflight(never)
      ).every((c) => c.ok),
    ).toBe(true);
  });

  for (const skewMs of [0, 4_000, -4_000]) {
    it(`restores in place exactly the state of the window (service clock skewed ${skewMs} ms), with PITR and auto-scaling re-applied`, async () => {
      const prefix = `ip${skewMs < 0 ? 'm' : ''}${Math.abs(skewMs)}_`;
      fake.skewMs = skewMs;
      await seed(prefix);
      const table = `${prefix}bank_a.accounts`;
      await cp.registerScalableTarget(table, {
        dimension: 'dynamodb:table:ReadCapacityUnits',
        min: 5,
        max: 50,
      });
      await cp.putScalingPolicy(table, {
        name: 'read-70',
        dimension: 'dynamodb:table:ReadCapacityUnits',
        targetValue: 70,
      });
      const spec = member(prefix, { enablePitr: true });
      const { record, clock } = await backup(spec, `b-${prefix}`);
      expect(Math.abs((clock?.offsetMs ?? 0) - skewMs)).toBeLessThanOrEqual(clock?.uncertaintyMs ?? 0);
      // Writes after the window must not come back.
      const s = await createStorage('w', connection(prefix));
      await s.mutate([
        { kind: 'put', table: ACCOUNTS, key: { id: 'a' }, values: { balance: 1 } },
        { kind: 'delete', table: ACCOUNTS, key: { id: 'b' } },
      ]);
      await s.close();
      await new Promise((r) => setTimeout(r, 400)); // past the fake's restore lag
      const session = engine.openRestore(
        { record, target: undefined, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      expect((await session.inspect(never)).state).toBe('live-source');
      await expect(session.restore({ force: true, signal: never })).rejects.toMatchObject({
        code: 'RESTORE_TARGET_IS_SOURCE',
      });
      const restored = await session.restore({ force: true, allowSource: true, signal: never });
      await session.markFinished();
      await session.close();
      expect(await balances(restored.connection)).toEqual({ a: 100, b: 100, c: 100 });
      expect((await cp.describeContinuousBackups(table)).enabled).toBe(true);
      expect(await cp.describeScalableTargets(table)).toEqual([
        { dimension: 'dynamodb:table:ReadCapacityUnits', min: 5, max: 50 },
      ]);
      expect((await cp.describeScalingPolicies(table)).map((p) => p.name)).toEqual(['read-70']);
      expect(await cp.listTables(prefix)).toEqual([`${prefix}bank_a.accounts`, `${prefix}scalardb.metadata`]);
    });
  }

  it('re-applies provisioned throughput, TTL, tags and the stream that a PITR restore drops', async () => {
    fake.skewMs = 0;
    const prefix = 'set_';
    await seed(prefix);
    const table = `${prefix}bank_a.accounts`;
    const settings = {
      table,
      billingMode: 'PROVISIONED' as const,
      readCapacity: 7,
      writeCapacity: 3,
      scalableTargets: [],
      scalingPolicies: [],
    };
    await cp.updateThroughput(table, settings);
    await cp.enableTimeToLive(table, 'expires_at');
    await cp.tagTable(table, [
      { key: 'team', value: 'bank' },
      { key: 'env', value: 'prod' },
    ]);
    await cp.enableStream(table, { viewType: 'NEW_AND_OLD_IMAGES' });
    const spec = member(prefix, { enablePitr: true });
    const { record } = await backup(spec, 'b-settings');
    await new Promise((r) => setTimeout(r, 400));
    const session = engine.openRestore(
      { record, target: undefined, artifacts: store, log: quietLog },
      engine.parseOptions(spec),
    );
    const plan = (await session.plan()).map((s) => s.detail ?? '');
    expect(plan).toContain(`UpdateTimeToLive ${table} Enabled=true AttributeName=expires_at`);
    expect(plan).toContain(`TagResource ${table} team=bank env=prod`);
    await session.restore({ force: true, allowSource: true, signal: never });
    await session.markFinished();
    await session.close();
    expect(await cp.describeTable(table)).toMatchObject({
      billingMode: 'PROVISIONED',
      readCapacity: 7,
      writeCapacity: 3,
      stream: { viewType: 'NEW_AND_OLD_IMAGES' },
    });
    expect(await cp.describeTimeToLive(table)).toBe('expires_at');
    expect((await cp.listTags(table)).sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: 'env', value: 'prod' },
      { key: 'team', value: 'bank' },
    ]);
    // The settings step is what brought them back: the alias (a bare PITR restore) had none of them.
    expect(fake.calls).toContain(`UpdateTimeToLive ${table}`);
  });

  it('a write made before the service clock is set back is in a restore after it (the log is not ordered by a clock that jumped)', async () => {
    fake.skewMs = 0;
    await seed('sb_');
    await cp.enablePitr('sb_bank_a.accounts');
    await new Promise((r) => setTimeout(r, 3_000)); // PITR is older than the set-back below
    const s = await createStorage('dyn', connection('sb_'));
    await s.mutate([{ kind: 'put', table: ACCOUNTS, key: { id: 'a' }, values: { balance: 9 } }]);
    await s.close();
    await new Promise((r) => setTimeout(r, 1_100)); // the window starts after it (1 s clock resolution)
    // Set 4 s back (as a kept trials group resets a skewed clock): the window is, on the service clock
    // now, earlier than the write was on the service clock then.
    fake.skewMs = -4_000;
    try {
      const spec = member('sb_', { enablePitr: true }); // the catalog's table: accounts' is on already
      const { record } = await backup(spec, 'b-setback');
      await new Promise((r) => setTimeout(r, 400));
      const session = engine.openRestore(
        { record, target: { prefix: 'sbcopy_' }, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      const restored = await session.restore({ force: false, signal: never });
      await session.close();
      expect(await balances(restored.connection)).toEqual({ a: 9, b: 100, c: 100 });
    } finally {
      fake.skewMs = 0;
    }
  }, 30_000);

  it('restores into new names (a second environment) and leaves the source alone', async () => {
    fake.skewMs = 0;
    await seed('src_');
    const spec = member('src_', { enablePitr: true });
    const { record } = await backup(spec, 'b-new');
    await new Promise((r) => setTimeout(r, 400));
    const session = engine.openRestore(
      { record, target: { prefix: 'copy_' }, artifacts: store, log: quietLog },
      engine.parseOptions(spec),
    );
    expect(
      (await session.plan()).some((s) => s.detail?.includes('TargetTableName=copy_bank_a.accounts')),
    ).toBe(true);
    expect((await session.inspect(never)).state).toBe('absent');
    const restored = await session.restore({ force: false, signal: never });
    await session.close();
    expect(restored.connection).toMatchObject({ prefix: 'copy_' });
    expect(await balances(restored.connection)).toEqual({ a: 100, b: 100, c: 100 });
    expect((await cp.describeContinuousBackups('copy_bank_a.accounts')).enabled).toBe(true);
    expect(await balances(connection('src_'))).toEqual({ a: 100, b: 100, c: 100 });
  });

  it('a restore that crashed after each step resumes to the same end state', async () => {
    fake.skewMs = 0;
    // Crash = the control plane throws at its Nth mutating call; then a fresh session resumes.
    // Two tables × six mutating calls (restore, delete, copy, PITR, capacity, delete alias) = 12 crash points.
    for (let crashAt = 1; crashAt <= 12; crashAt += 1) {
      const prefix = `cr${crashAt}_`;
      await seed(prefix);
      const spec = member(prefix, { enablePitr: true });
      const { record } = await backup(spec, `b-crash-${crashAt}`);
      await new Promise((r) => setTimeout(r, 400));
      let n = 0;
      const adapter = new AwsDynamoControlPlane({
        kind: 'dynamodb',
        region: dyn.region,
        endpoint: fake.endpoint,
        dummyCredentials: true,
      });
      const crashing = new Proxy(adapter, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (
            typeof value !== 'function' ||
            ![
              'restoreTableToPointInTime',
              'deleteTable',
              'copyTable',
              'enablePitr',
              'registerScalableTarget',
              'updateThroughput',
            ].includes(String(prop))
          )
            return typeof value === 'function'
              ? ((value as (...a: unknown[]) => unknown).bind(target) as unknown)
              : value;
          return (...args: unknown[]) => {
            n += 1;
            if (n === crashAt) throw new Error(`crash at call ${crashAt}`);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const crashEngine = createDynamoEngine(() => crashing);
      const first = crashEngine.openRestore(
        { record, target: undefined, artifacts: store, log: quietLog },
        crashEngine.parseOptions(spec),
      );
      await expect(first.restore({ force: true, allowSource: true, signal: never })).rejects.toThrow(
        `crash at call ${crashAt}`,
      );
      await first.close();
      const again = engine.openRestore(
        { record, target: undefined, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      await again.restore({ force: true, allowSource: true, signal: never });
      await again.markFinished();
      expect(await balances(connection(prefix))).toEqual({ a: 100, b: 100, c: 100 });
      expect(await cp.listTables(prefix)).toEqual([`${prefix}bank_a.accounts`, `${prefix}scalardb.metadata`]);
      expect((await cp.describeContinuousBackups(`${prefix}bank_a.accounts`)).enabled).toBe(true);
    }
  });
});

describe('the AWS SDK control plane, on what dynalite implements', () => {
  it('lists, describes, copies and deletes tables, reads the service clock from the Date header, and reports PITR as unsupported there', async () => {
    await seed('aws_');
    const cp = new AwsDynamoControlPlane({
      kind: 'dynamodb',
      region: dyn.region,
      endpoint: dyn.endpoint,
      dummyCredentials: true,
    });
    try {
      expect(await cp.listTables('aws_')).toEqual(['aws_bank_a.accounts', 'aws_scalardb.metadata']);
      expect(await cp.describeTable('aws_bank_a.accounts')).toMatchObject({
        status: 'ACTIVE',
        billingMode: 'PAY_PER_REQUEST',
      });
      expect(await cp.describeTable('aws_none')).toBeUndefined();
      const { nowMs, resolutionMs } = await cp.serviceTime();
      expect(resolutionMs).toBe(1_000);
      expect(Math.abs(nowMs + 500 - Date.now())).toBeLessThan(5_000);
      await cp.copyTable('aws_bank_a.accounts', 'aws_copy.accounts');
      expect(
        await balances({
          kind: 'dynamodb',
          region: dyn.region,
          endpoint: dyn.endpoint,
          dummyCredentials: true,
          prefix: 'aws_',
        }),
      ).toEqual({ a: 100, b: 100, c: 100 });
      expect((await cp.listTables('aws_copy')).length).toBe(1);
      await cp.deleteTable('aws_copy.accounts');
      expect(await cp.describeTable('aws_copy.accounts')).toBeUndefined();
      // dynalite has no PITR API: the adapter's call fails loudly rather than pretending.
      await expect(cp.describeContinuousBackups('aws_bank_a.accounts')).rejects.toThrow();
    } finally {
      await cp.close();
    }
  });
});
