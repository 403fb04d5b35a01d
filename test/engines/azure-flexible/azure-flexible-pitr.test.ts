/**
 * The azure-flexible engine, its real @azure/arm-mysql-flexible adapter, against the ARM fake (HTTPS, a
 * long-running PUT) whose servers are real MariaDB servers with the binary log on: preflight reads the
 * retention; a backup's time handle (ARM Date header, skewed service clock) restores a NEW server holding
 * exactly the data as of the window (binlog replay to the second), with the source's location, SKU, subnet
 * and tags; the member's connection points at the new server; an interrupted restore resumes with one PUT.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { azureFlexibleEngine } from '../../../src/engines/azure-flexible/engine.ts';
import { AzureFlexibleFake } from '../../../src/lab/fakes/azure-flexible-fake.ts';
import type { LocalMariaDb } from '../../../src/lab/local-servers/mariadb-server.ts';
import { freePort } from '../../../src/lab/local-servers/process.ts';
import { backupContext, never, quietLog, tempDirStore } from '../support.ts';

let fake: AzureFlexibleFake;
let source: LocalMariaDb;
let store: Awaited<ReturnType<typeof tempDirStore>>;
const SUBNET =
  '/subscriptions/6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/db';

beforeAll(async () => {
  fake = await AzureFlexibleFake.start({ skewMs: -3_000, serverPort: await freePort() });
  source = await fake.createMySqlServer({
    subscriptionId: '6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b',
    resourceGroup: 'rg-1',
    name: 'bank-mysql',
    subnetId: SUBNET,
    tags: { team: 'payments' },
  });
  await source.query('CREATE DATABASE bank');
  await source.query(
    'CREATE TABLE bank.accounts (id varchar(8) PRIMARY KEY, balance bigint NOT NULL) ENGINE=InnoDB',
  );
  await source.query(`INSERT INTO bank.accounts VALUES ('a', 100), ('b', 100)`);
  store = await tempDirStore();
}, 180_000);
afterAll(async () => {
  await fake?.destroy();
  await store?.destroy();
});

const member = (options: Record<string, unknown> = {}): MemberSpec => ({
  name: 'my',
  engine: 'azure-flexible',
  connection: { kind: 'mysql', host: source.host, port: source.port, user: 'root' },
  namespaces: ['bank'],
  options: {
    subscriptionId: '6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b',
    resourceGroup: 'rg-1',
    server: 'bank-mysql',
    endpoint: fake.endpoint,
    caFile: fake.caFile,
    dummyCredentials: true,
    port: fake.serverPort,
    pollMs: 50,
    horizonLagMs: 200,
    ...options,
  },
});

const sum = async (db: { query(sql: string): Promise<unknown> }) =>
  Number(((await db.query('SELECT sum(balance) AS s FROM bank.accounts')) as { s: number }[])[0]?.s);

async function backup(backupId: string): Promise<{ record: MemberRecord; expected: number }> {
  const spec = member();
  const session = azureFlexibleEngine.openBackup(
    backupContext(store, spec, backupId),
    azureFlexibleEngine.parseOptions(spec),
  );
  try {
    expect((await session.preflight(never)).every((c) => c.ok)).toBe(true);
    await source.query('UPDATE bank.accounts SET balance = balance + 1');
    const expected = await sum(source);
    await sleep(2_500); // 1 s Date header + 1 s binlog granularity
    const clock = await session.measureClock?.(never);
    await session.capture(never);
    const midMs = Date.now();
    await sleep(2_500);
    await source.query('UPDATE bank.accounts SET balance = balance + 1000');
    const finished = await session.finish(
      { pausedAtMs: midMs, unpauseStartedAtMs: midMs, midMs, ...(clock === undefined ? {} : { clock }) },
      never,
    );
    if (finished.handle.kind === 'time')
      expect(Math.abs(finished.handle.clockOffsetMs + 3_000)).toBeLessThan(1_500);
    await session.horizon(finished.handle, never);
    return {
      record: { backupId, member: spec, handle: finished.handle, artifacts: finished.artifacts },
      expected,
    };
  } finally {
    await session.close();
  }
}

const openRestore = (record: MemberRecord, target?: Record<string, unknown>) =>
  azureFlexibleEngine.openRestore(
    { record, target, artifacts: store, log: quietLog },
    azureFlexibleEngine.parseOptions(record.member),
  );

describe('azure-flexible engine over the ARM fake (real MariaDB binlog PITR)', () => {
  it('preflight refuses a retention shorter than the plan needs', async () => {
    const spec = member({ minRetentionDays: 30 });
    const s = azureFlexibleEngine.openBackup(
      backupContext(store, spec, 'pre'),
      azureFlexibleEngine.parseOptions(spec),
    );
    try {
      expect((await s.preflight(never)).find((c) => c.name === 'azure backups')).toMatchObject({ ok: false });
    } finally {
      await s.close();
    }
  }, 60_000);

  it('restores a new server to the window with the source placement, resuming when interrupted', async () => {
    const { record, expected } = await backup('bk-az-1');
    const plan = (await openRestore(record).plan()).map((s) => s.detail ?? '').join('\n');
    expect(plan).toContain(
      `createMode=PointInTimeRestore sourceServerResourceId=/subscriptions/6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-1/providers/Microsoft.DBforMySQL/flexibleServers/bank-mysql`,
    );
    expect(plan).toContain(`subnet=${SUBNET}`);

    const first = openRestore(record);
    const abort = new AbortController();
    const cut = (async () => {
      await expect.poll(() => fake.calls.some((c) => c.startsWith('PUT')), { timeout: 60_000 }).toBe(true);
      abort.abort();
    })();
    await expect(first.restore({ force: false, signal: abort.signal })).rejects.toThrow();
    await cut;
    await first.close();

    const second = openRestore(record);
    expect((await second.inspect(never)).state).toBe('in-progress');
    const restored = await second.restore({ force: false, signal: never }).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${fake.failure('bank-mysql-sp-bkaz1') ?? ''}`);
    });
    expect(fake.calls.filter((c) => c.startsWith('PUT'))).toHaveLength(1);
    expect(restored.connection).toMatchObject({ kind: 'mysql', port: fake.serverPort, user: 'root' });
    expect(restored.connection).not.toMatchObject({ host: source.host });
    const copy = fake.server('bank-mysql-sp-bkaz1');
    expect(copy).toBeDefined();
    if (copy !== undefined) expect(await sum(copy)).toBe(expected);
    await second.markFinished();
    expect((await second.inspect(never)).state).toBe('restored');
    await second.close();
  }, 300_000);
});

const azureReady =
  process.env.STILLPOINT_AZURE_TEST === '1' && process.env.AZURE_SUBSCRIPTION_ID !== undefined;
describe.skipIf(!azureReady)(
  'real Azure flexible server (skipped unless STILLPOINT_AZURE_TEST=1 and Azure credentials exist)',
  () => {
    it('preflight and the service clock of STILLPOINT_AZURE_SERVER', async () => {
      const spec: MemberSpec = {
        name: 'az',
        engine: 'azure-flexible',
        connection: { kind: 'mysql', host: 'unused', port: 3306, user: 'admin' },
        namespaces: [],
        options: {
          subscriptionId: process.env.AZURE_SUBSCRIPTION_ID ?? '',
          resourceGroup: process.env.STILLPOINT_AZURE_RESOURCE_GROUP ?? '',
          server: process.env.STILLPOINT_AZURE_SERVER ?? '',
        },
      };
      const s = azureFlexibleEngine.openBackup(
        backupContext(store, spec, 'az'),
        azureFlexibleEngine.parseOptions(spec),
      );
      try {
        expect((await s.preflight(never)).every((c) => c.ok)).toBe(true);
        expect(Math.abs((await s.measureClock?.(never))?.offsetMs ?? Infinity)).toBeLessThan(60_000);
      } finally {
        await s.close();
      }
    });
  },
);
