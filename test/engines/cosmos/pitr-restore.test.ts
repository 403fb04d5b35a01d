/**
 * The cosmos engine with its real ARM adapter (@azure/arm-cosmosdb) against the management fake, whose
 * accounts are real cosmosdb-servers: preflight refuses an account without continuous backup or STRONG; a
 * backup's time handle (service clock skewed by seconds) restores exactly the data as of the window into a
 * NEW account, with STRONG set and the stored procedures recreated; a restore that crashes after any step
 * resumes to the same end state; real Azure runs only with STILLPOINT_AZURE_TEST=1.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberSpec } from '../../../src/engines/contract.ts';
import { ArmCosmosControlPlane } from '../../../src/engines/cosmos/arm-control-plane.ts';
import type { CosmosControlPlane } from '../../../src/engines/cosmos/control-plane.ts';
import { createCosmosEngine } from '../../../src/engines/cosmos/engine.ts';
import {
  startCosmosManagementFake,
  type CosmosManagementFake,
} from '../../../src/lab/fakes/cosmos-management-fake.ts';
import type { StorageConfig } from '../../../src/txn/contract.ts';
import { createStorage } from '../../../src/txn/storages/index.ts';
import { cosmosClient } from '../../../src/txn/storages/cosmos/cosmos-storage.ts';
import {
  STORED_PROCEDURE_BODY,
  STORED_PROCEDURE_ID,
} from '../../../src/txn/storages/cosmos/stored-procedure.ts';
import { never, quietLog, tempDirStore } from '../support.ts';

const ACCOUNTS = { namespace: 'bank_a', table: 'accounts' };
let fake: CosmosManagementFake;
let store: Awaited<ReturnType<typeof tempDirStore>>;
let keyDir: string;
/** Per test: a hook that may throw before a control-plane call (a crash between restore steps). */
let crashBefore: ((method: string) => void) | undefined;

const arm = (): CosmosControlPlane =>
  new ArmCosmosControlPlane({
    subscriptionId: fake.subscriptionId,
    resourceGroup: fake.resourceGroup,
    endpoint: fake.endpoint,
    caFile: fake.caFile,
    credential: fake.credential,
  });
const engine = createCosmosEngine(() => {
  const real = arm();
  return new Proxy(real, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        crashBefore?.(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
});

beforeAll(async () => {
  fake = await startCosmosManagementFake();
  store = await tempDirStore();
  keyDir = await mkdtemp(join(tmpdir(), 'stillpoint-cosmos-keys-'));
}, 60_000);
afterAll(async () => {
  await fake?.destroy();
  await store?.destroy();
  if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
});

function member(account: string, connection: StorageConfig): MemberSpec {
  return {
    name: 'cos',
    engine: 'cosmos',
    connection,
    namespaces: ['bank_a'],
    options: {
      subscriptionId: fake.subscriptionId,
      resourceGroup: fake.resourceGroup,
      account,
      managementEndpoint: fake.endpoint,
      managementCaFile: fake.caFile,
      pollMs: 20,
      horizonTimeoutMs: 20_000,
    },
  };
}

/** A live account with bank_a.accounts {a,b,c: 100} and ScalarDB's stored procedure registered. */
async function seed(account: string): Promise<StorageConfig> {
  const createdAt = fake.now();
  const { endpoint, caFile, key } = await fake.createAccount(account);
  const connection: StorageConfig = { kind: 'cosmos', endpoint, caFile, password: key, mutations: 'etag' };
  const s = await createStorage('seed', connection);
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
  const cp = arm();
  await cp.putStoredProcedure(account, 'bank_a', 'accounts', {
    id: STORED_PROCEDURE_ID,
    body: STORED_PROCEDURE_BODY,
  });
  await cp.close();
  // The service clock is read with 1 s resolution: keep the window clearly after the account's creation
  // (the oldest restorable time), as any real backup is.
  await expect.poll(() => fake.now() - createdAt, { timeout: 10_000, interval: 100 }).toBeGreaterThan(2_000);
  return connection;
}

async function balances(c: StorageConfig): Promise<Record<string, unknown>> {
  const s = await createStorage('check', c);
  const out: Record<string, unknown> = {};
  for await (const row of s.scanAll(ACCOUNTS)) out[String(row.id)] = row.balance;
  await s.close();
  return out;
}

/** A backup as the orchestrator runs it: preflight, prepare, clock inside the pause, a 200 ms window, finish, horizon. */
async function backup(spec: MemberSpec, backupId: string) {
  const session = engine.openBackup(
    {
      backupId,
      member: spec,
      artifacts: store,
      artifactPrefix: `${backupId}/cos/`,
      sharedPrefix: 'shared/cos/',
      log: quietLog,
    },
    engine.parseOptions(spec),
  );
  expect((await session.preflight(never)).filter((c) => !c.ok)).toEqual([]);
  await session.prepare(never);
  const pausedAtMs = Date.now();
  const clock = await session.measureClock?.(never);
  await session.capture(never);
  await new Promise((r) => setTimeout(r, 200));
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

/** Every document of every container of an account, without the service's `_` properties, sorted by id. */
async function documents(c: StorageConfig): Promise<Record<string, unknown[]>> {
  if (c.kind !== 'cosmos') throw new Error('a cosmos connection');
  const client = cosmosClient(c.endpoint, c.password ?? '', c.caFile);
  const out: Record<string, unknown[]> = {};
  for (const db of (await client.databases.readAll().fetchAll()).resources)
    for (const coll of (await client.database(db.id).containers.readAll().fetchAll()).resources) {
      const { resources } = await client.database(db.id).container(coll.id).items.readAll().fetchAll();
      out[`${db.id}/${coll.id}`] = resources
        .map((d) => Object.fromEntries(Object.entries(d).filter(([k]) => !k.startsWith('_'))))
        .sort((a, b) => String(a.id).localeCompare(String(b.id)));
    }
  client.dispose();
  return out;
}

async function writeAfterWindow(connection: StorageConfig): Promise<void> {
  const s = await createStorage('w', connection);
  await s.mutate([
    { kind: 'put', table: ACCOUNTS, key: { id: 'a' }, values: { balance: 1 } },
    { kind: 'delete', table: ACCOUNTS, key: { id: 'b' } },
  ]);
  await s.close();
}

describe('cosmos engine over the ARM fake', () => {
  it('a restore whose account takes longer than restoreTimeoutMs fails with COSMOS_RESTORE_TIMEOUT and the next run resumes the wait', async () => {
    fake.setSkew(0);
    const connection = await seed('slow');
    const spec = member('slow', connection);
    const { record } = await backup(spec, 'b-slow');
    fake.setRestoreDelay(2_500);
    try {
      const impatient = { ...spec, options: { ...spec.options, restoreTimeoutMs: 1_000 } };
      const first = engine.openRestore(
        { record, target: { account: 'slow-r' }, artifacts: store, log: quietLog },
        engine.parseOptions(impatient),
      );
      await expect(first.restore({ force: false, signal: never })).rejects.toMatchObject({
        code: 'COSMOS_RESTORE_TIMEOUT',
      });
      await first.close();
      const second = engine.openRestore(
        { record, target: { account: 'slow-r' }, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      expect((await second.inspect(never)).state).toBe('in-progress');
      const restored = await second.restore({ force: false, signal: never });
      await second.close();
      expect(await balances(restored.connection)).toEqual({ a: 100, b: 100, c: 100 });
    } finally {
      fake.setRestoreDelay(50);
    }
  }, 60_000);

  it('preflight refuses an account without continuous backup or STRONG consistency', async () => {
    const { endpoint, caFile, key } = await fake.createAccount('periodic', {
      continuous: false,
      consistency: 'Session',
    });
    const spec = member('periodic', { kind: 'cosmos', endpoint, caFile, password: key, mutations: 'etag' });
    const session = engine.openBackup(
      {
        backupId: 'b0',
        member: spec,
        artifacts: store,
        artifactPrefix: 'b0/cos/',
        sharedPrefix: 's/',
        log: quietLog,
      },
      engine.parseOptions(spec),
    );
    expect((await session.preflight(never)).filter((c) => !c.ok).map((c) => c.name)).toEqual([
      'continuous backup periodic',
      'consistency periodic',
    ]);
    await session.close();
  });

  for (const skewMs of [0, 3_000, -3_000]) {
    it(`restores into a new account exactly the state of the window (service clock skewed ${skewMs} ms), STRONG set, stored procedures recreated`, async () => {
      fake.setSkew(skewMs);
      const source = `src${skewMs < 0 ? 'm' : ''}${Math.abs(skewMs)}`;
      const connection = await seed(source);
      const spec = member(source, connection);
      const { record, clock } = await backup(spec, `b-${source}`);
      expect(Math.abs((clock?.offsetMs ?? 0) - skewMs)).toBeLessThanOrEqual(clock?.uncertaintyMs ?? 0);
      await writeAfterWindow(connection);
      const session = engine.openRestore(
        { record, target: { account: `${source}-copy` }, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      const plan = await session.plan();
      expect(plan.map((s) => s.detail).join('\n')).toMatch(
        /createMode=Restore[\s\S]*Strong[\s\S]*storedProcedures\/mutate\.js[\s\S]*listKeys/,
      );
      expect((await session.inspect(never)).state).toBe('absent');
      const restored = await session.restore({ force: false, signal: never });
      await session.markFinished();
      await session.close();
      expect(restored.connection).toMatchObject({ kind: 'cosmos' });
      expect((restored.connection as { endpoint: string }).endpoint).not.toBe(
        (connection as { endpoint: string }).endpoint,
      );
      expect(await balances(restored.connection)).toEqual({ a: 100, b: 100, c: 100 });
      expect(await balances(connection)).toEqual({ a: 1, c: 100 });
      expect(fake.account(`${source}-copy`)).toMatchObject({
        consistency: 'Strong',
        procedures: [{ id: STORED_PROCEDURE_ID, body: STORED_PROCEDURE_BODY }],
      });
      // A second restore into the same account is refused: Cosmos DB cannot restore over an account.
      const again = engine.openRestore(
        { record, target: { account: `${source}-copy` }, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      expect((await again.inspect(never)).state).toBe('foreign');
      await expect(again.restore({ force: true, signal: never })).rejects.toMatchObject({
        code: 'RESTORE_TARGET_NOT_EMPTY',
      });
      await again.close();
    }, 60_000);
  }

  it('a restore holds the source documents as of the time and nothing else: each as last written, no deleted one, no trace of queries', async () => {
    // Real Azure restores the data; the fake replays its write log. Queries are POSTs like creates: read
    // before the window (a scan, a catalog read), they must not come back as documents (the torn restore
    // of a kept cosmos+sqlite trials group: a scan's result page restored as two extra bank_b accounts).
    // A restore holds data, not history: each document as last written, none deleted.
    fake.setSkew(0);
    const connection = await seed('queried');
    // Rewrites before the time: the restore holds each document's last write, and no deleted one.
    const s = await createStorage('rewrite', connection);
    for (const balance of [7, 8])
      await s.mutate([{ kind: 'put', table: ACCOUNTS, key: { id: 'a' }, values: { balance } }]);
    await s.mutate([
      { kind: 'delete', table: ACCOUNTS, key: { id: 'b' } },
      { kind: 'delete', table: ACCOUNTS, key: { id: 'c' } },
    ]);
    await s.mutate([{ kind: 'put', table: ACCOUNTS, key: { id: 'c' }, values: { balance: 5 } }]);
    await s.close();
    await new Promise((r) => setTimeout(r, 1_100)); // the window starts after them (1 s clock resolution)
    expect(await balances(connection)).toEqual({ a: 8, c: 5 }); // a query of every account
    const before = await documents(connection); // and of every container
    const spec = member('queried', connection);
    const { record } = await backup(spec, 'b-queried');
    await writeAfterWindow(connection);
    const session = engine.openRestore(
      { record, target: { account: 'queried-r' }, artifacts: store, log: quietLog },
      engine.parseOptions(spec),
    );
    const restored = await session.restore({ force: false, signal: never });
    await session.markFinished();
    await session.close();
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['bank_a/accounts', 'scalardb/metadata']));
    expect(await documents(restored.connection)).toEqual(before);
    expect(await balances(restored.connection)).toEqual({ a: 8, c: 5 });
  }, 60_000);

  it('a write made before the service clock is set back is in a restore after it (the log is not ordered by a clock that jumped)', async () => {
    fake.setSkew(0);
    const connection = await seed('setback');
    await new Promise((r) => setTimeout(r, 2_000)); // the account is older than the set-back below
    const s = await createStorage('w', connection);
    await s.mutate([{ kind: 'put', table: ACCOUNTS, key: { id: 'a' }, values: { balance: 9 } }]);
    await s.close();
    await new Promise((r) => setTimeout(r, 1_100)); // the window starts after it (1 s clock resolution)
    // Set 4 s back (as a kept trials group resets a skewed clock): the window is, on the service clock
    // now, earlier than the write was on the service clock then.
    fake.setSkew(-4_000);
    try {
      const spec = member('setback', connection);
      const { record } = await backup(spec, 'b-setback');
      const session = engine.openRestore(
        { record, target: { account: 'setback-r' }, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      const restored = await session.restore({ force: false, signal: never });
      await session.close();
      expect(await balances(restored.connection)).toEqual({ a: 9, b: 100, c: 100 });
    } finally {
      fake.setSkew(0);
    }
  }, 60_000);

  it('a write the fake cannot replay (a dropped container) fails a restore past it rather than restoring without it', async () => {
    fake.setSkew(0);
    const connection = await seed('dropped');
    if (connection.kind !== 'cosmos') throw new Error('a cosmos connection');
    const client = cosmosClient(connection.endpoint, connection.password ?? '', connection.caFile);
    const { container } = await client.database('bank_a').containers.create({ id: 'scratch' });
    await container.delete();
    client.dispose();
    await new Promise((r) => setTimeout(r, 1_100)); // the window starts after the drop (1 s clock resolution)
    const spec = member('dropped', connection);
    const { record } = await backup(spec, 'b-dropped');
    const session = engine.openRestore(
      { record, target: { account: 'dropped-r' }, artifacts: store, log: quietLog },
      engine.parseOptions(spec),
    );
    await expect(session.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_FAILED',
    });
    await session.close();
  }, 60_000);

  for (const crashAt of [
    'restoreAccount',
    'waitReady',
    'setStrongConsistency',
    'putStoredProcedure',
    'primaryKey',
  ]) {
    it(`a restore that crashes before ${crashAt} resumes to the same end state`, async () => {
      fake.setSkew(0);
      const source = `crash-${crashAt.toLowerCase()}`;
      const connection = await seed(source);
      const spec = member(source, connection);
      const { record } = await backup(spec, `b-${source}`);
      await writeAfterWindow(connection);
      const target = { account: `${source}-r`, keyFile: join(keyDir, `${source}.key`) };
      let putDone = false;
      crashBefore = (method) => {
        // 'waitReady': the restore PUT was accepted, then the process died while the operation ran.
        if (crashAt === 'waitReady' && method === 'restoreAccount') putDone = true;
        else if (crashAt === 'waitReady' && putDone && method === 'getAccount')
          throw new Error(`crash before ${crashAt}`);
        if (method === crashAt) throw new Error(`crash before ${crashAt}`);
      };
      const first = engine.openRestore(
        { record, target, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      await expect(first.restore({ force: false, signal: never })).rejects.toThrow(`crash before ${crashAt}`);
      await first.close();
      crashBefore = undefined;
      const second = engine.openRestore(
        { record, target, artifacts: store, log: quietLog },
        engine.parseOptions(spec),
      );
      expect((await second.inspect(never)).state).toBe('in-progress');
      const restored = await second.restore({ force: false, signal: never });
      await second.markFinished();
      await second.close();
      expect(restored.connection).toMatchObject({ passwordFile: target.keyFile });
      expect((await stat(target.keyFile)).mode & 0o777).toBe(0o600);
      expect(await balances(restored.connection)).toEqual({ a: 100, b: 100, c: 100 });
      expect(fake.account(target.account)).toMatchObject({
        consistency: 'Strong',
        procedures: [{ id: STORED_PROCEDURE_ID }],
      });
    }, 60_000);
  }
});

const azure = process.env.STILLPOINT_AZURE_TEST === '1' && process.env.AZURE_SUBSCRIPTION_ID !== undefined;
describe.skipIf(!azure)(
  'cosmos engine on real Azure (STILLPOINT_AZURE_TEST=1 and AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, STILLPOINT_COSMOS_ACCOUNT set)',
  () => {
    it('preflight passes on the configured account', async () => {
      const cp = new ArmCosmosControlPlane({
        subscriptionId: process.env.AZURE_SUBSCRIPTION_ID ?? '',
        resourceGroup: process.env.AZURE_RESOURCE_GROUP ?? '',
      });
      const account = await cp.getAccount(process.env.STILLPOINT_COSMOS_ACCOUNT ?? '');
      expect(account).toMatchObject({ backupPolicy: 'Continuous', defaultConsistency: 'Strong' });
      await cp.close();
    });
  },
);
