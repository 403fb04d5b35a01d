/**
 * The azure-flexible engine's PostgreSQL flavour, its real @azure/arm-postgresql-flexible adapter, against
 * the ARM fake (HTTPS, long-running PUT) whose PostgreSQL servers are real PostgreSQL with WAL archiving: a
 * backup's time handle (ARM Date header, skewed service clock) restores a NEW server (`pointInTimeUTC`)
 * holding exactly the window's data — the change before the restore time in, the one after out — with the
 * source's location, SKU, subnet and tags; the member's connection points at the new server's host.
 * Swapping names is refused: Azure flexible servers cannot be renamed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberSpec } from '../../../src/engines/contract.ts';
import { azureFlexibleEngine } from '../../../src/engines/azure-flexible/engine.ts';
import { AzureFlexibleFake } from '../../../src/lab/fakes/azure-flexible-fake.ts';
import type { ArchivedPostgres, PitrPostgresServer } from '../../../src/lab/fakes/pitr-postgres.ts';
import { freePort } from '../../../src/lab/local-servers/process.ts';
import { backupContext, never, quietLog, tempDirStore } from '../support.ts';

let fake: AzureFlexibleFake;
let source: ArchivedPostgres;
let store: Awaited<ReturnType<typeof tempDirStore>>;
const SUB = '6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b';
const SUBNET =
  '/subscriptions/6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pg';

beforeAll(async () => {
  fake = await AzureFlexibleFake.start({ skewMs: 2_500, serverPort: await freePort() });
  source = await fake.createPostgresServer({
    subscriptionId: '6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b',
    resourceGroup: 'rg-1',
    name: 'bank-pg',
    subnetId: SUBNET,
    tags: { team: 'payments' },
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

const sum = async (db: PitrPostgresServer) =>
  Number((await db.query('SELECT sum(balance)::int AS s FROM accounts', [], 'bank')).rows[0].s);

describe('azure-flexible engine, PostgreSQL flavour, over the ARM fake (real WAL PITR)', () => {
  it('restores a new PostgreSQL flexible server to the window', async () => {
    const spec: MemberSpec = {
      name: 'pg',
      engine: 'azure-flexible',
      connection: {
        kind: 'postgres',
        host: source.host,
        port: source.port,
        user: 'postgres',
        database: 'bank',
      },
      namespaces: ['bank'],
      options: {
        subscriptionId: '6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b',
        resourceGroup: 'rg-1',
        server: 'bank-pg',
        endpoint: fake.endpoint,
        caFile: fake.caFile,
        dummyCredentials: true,
        port: fake.serverPort,
        pollMs: 50,
        horizonLagMs: 200,
      },
    };
    const options = azureFlexibleEngine.parseOptions(spec);
    const backup = azureFlexibleEngine.openBackup(backupContext(store, spec, 'bk-azpg'), options);
    let record;
    let expected: number;
    try {
      expect((await backup.preflight(never)).filter((c) => !c.ok)).toEqual([]);
      await source.query('UPDATE accounts SET balance = balance + 1', [], 'bank');
      expected = await sum(source);
      await sleep(1_500); // the Date header has 1 s resolution: keep the writes out of the uncertainty
      const clock = await backup.measureClock?.(never);
      await backup.capture(never);
      const midMs = Date.now();
      await sleep(1_500);
      await source.query('UPDATE accounts SET balance = balance + 1000', [], 'bank');
      const finished = await backup.finish(
        { pausedAtMs: midMs, unpauseStartedAtMs: midMs, midMs, ...(clock === undefined ? {} : { clock }) },
        never,
      );
      if (finished.handle.kind === 'time')
        expect(Math.abs(finished.handle.clockOffsetMs - 2_500)).toBeLessThan(1_500);
      await backup.horizon(finished.handle, never);
      record = { backupId: 'bk-azpg', member: spec, handle: finished.handle, artifacts: finished.artifacts };
    } finally {
      await backup.close();
    }

    const session = azureFlexibleEngine.openRestore(
      { record, target: undefined, artifacts: store, log: quietLog },
      options,
    );
    const plan = (await session.plan()).map((s) => s.detail ?? '').join('\n');
    expect(plan).toContain(
      'createMode=PointInTimeRestore sourceServerResourceId=/subscriptions/6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-1/providers/Microsoft.DBforPostgreSQL/flexibleServers/bank-pg',
    );
    expect(plan).toContain(`subnet=${SUBNET}`);
    const restored = await session.restore({ force: false, signal: never }).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${fake.failure('bank-pg-sp-bkazpg') ?? ''}`);
    });
    await session.markFinished();
    await session.close();
    expect(fake.calls.filter((c) => c.startsWith('PUT'))).toEqual([
      'PUT /subscriptions/6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-1/providers/Microsoft.DBforPostgreSQL/flexibleServers/bank-pg-sp-bkazpg',
    ]);
    expect(restored.connection).toMatchObject({ kind: 'postgres', port: fake.serverPort, database: 'bank' });
    expect(restored.connection).not.toMatchObject({ host: source.host });

    // Through the new server's own host (as the restored group config reaches it): +1 in, +1000 out.
    const c = restored.connection as { host: string; port: number };
    const client = new pg.Client({ host: c.host, port: c.port, user: 'postgres', database: 'bank' });
    await client.connect();
    try {
      const rows = (await client.query('SELECT sum(balance)::int AS s FROM accounts')).rows as {
        s: number;
      }[];
      expect(rows[0]?.s).toBe(expected);
    } finally {
      await client.end();
    }
    expect(expected).toBe(202);
  }, 300_000);

  it('refuses swapNames: Azure flexible servers cannot be renamed', () => {
    const spec: MemberSpec = {
      name: 'pg',
      engine: 'azure-flexible',
      connection: {
        kind: 'postgres',
        host: source.host,
        port: source.port,
        user: 'postgres',
        database: 'bank',
      },
      namespaces: ['bank'],
      options: { subscriptionId: SUB, resourceGroup: 'rg-1', server: 'bank-pg', endpoint: fake.endpoint },
    };
    const record = {
      backupId: 'bk-x',
      member: spec,
      handle: { kind: 'time', atMs: 0, clockOffsetMs: 0, uncertaintyMs: 0 } as const,
      artifacts: [],
    };
    expect(() =>
      azureFlexibleEngine.openRestore(
        { record, target: { swapNames: true }, artifacts: store, log: quietLog },
        azureFlexibleEngine.parseOptions(spec),
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'MANAGED_RENAME_UNSUPPORTED',
        hint: expect.stringContaining('swapNames'),
      }),
    );
  });
});
