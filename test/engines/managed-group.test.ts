/**
 * A group with an `rds` PostgreSQL member (bank_a + the Coordinator) and an `azure-flexible` MySQL member
 * (bank_b), both behind their control-plane fakes with REAL PITR underneath (PostgreSQL WAL replay, MariaDB
 * binlog replay), backed up through the orchestrator under the bank workload and restored into new
 * servers at the window's mid-time (each service clock skewed differently): the checker passes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { bankNodeService } from '../../src/lab/bank/bank-service.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';
import { runBankWorkload } from '../../src/lab/bank/bank-workload.ts';
import { AzureFlexibleFake } from '../../src/lab/fakes/azure-flexible-fake.ts';
import type { ArchivedPostgres } from '../../src/lab/fakes/pitr-postgres.ts';
import { RdsControlPlaneFake } from '../../src/lab/fakes/rds-control-plane-fake.ts';
import type { LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import { freePort } from '../../src/lab/local-servers/process.ts';
import { startNode, type RunningNode } from '../../src/node/node.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { parsePlan } from '../../src/plan/load-plan.ts';
import type { GroupConfig } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';

const ACCOUNTS = 20;
let dir: string;
let rds: RdsControlPlaneFake;
let azure: AzureFlexibleFake;
let pg: ArchivedPostgres;
let maria: LocalMariaDb;
let nodes: RunningNode[] = [];
let catalog: Catalog;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-managed-'));
  rds = await RdsControlPlaneFake.start({ skewMs: 2_000, lagMs: 300 });
  azure = await AzureFlexibleFake.start({ skewMs: -1_500, serverPort: await freePort() });
  pg = await rds.createPostgresInstance({
    id: 'bank-pg',
    parameterGroup: 'pg15',
    subnetGroup: 'db-private',
    securityGroupIds: ['sg-1'],
  });
  maria = await azure.createMySqlServer({
    subscriptionId: '6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b',
    resourceGroup: 'rg-1',
    name: 'bank-mysql',
  });
  await pg.server.createDatabase('bank');
  const group: GroupConfig = {
    storages: { pg: pg.server.connection('bank'), maria: maria.connection() },
    namespaces: { bank_a: 'pg', coordinator: 'pg', bank_b: 'maria' },
  };
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: ACCOUNTS, initialBalance: 1000 });
  } finally {
    await opened.close();
  }
  nodes = await Promise.all(
    ['n1', 'n2'].map((name) =>
      startNode(
        { name, group, listen: { host: '127.0.0.1', port: 0 }, expiryMs: 1_000 },
        { log: () => undefined, services: [bankNodeService] },
      ),
    ),
  );
  catalog = openCatalog(join(dir, 'catalog.db'));
}, 240_000);

afterAll(async () => {
  catalog?.close();
  await Promise.all(nodes.map((n) => n.close()));
  await rds?.destroy();
  await azure?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function managedPlan(leaseMs: number) {
  return parsePlan(
    {
      version: 1,
      group: 'managed',
      mode: 'pause-window',
      clusters: [{ name: 'nodes', targets: { addresses: nodes.map((n) => n.address) }, leaseMs }],
      members: [
        {
          name: 'pg',
          engine: 'rds',
          connection: pg.server.connection('bank'),
          namespaces: ['bank_a', 'coordinator'],
          options: {
            region: 'eu-west-1',
            endpoint: rds.endpoint,
            dummyCredentials: true,
            instance: 'bank-pg',
            pollMs: 50,
          },
        },
        {
          name: 'maria',
          engine: 'azure-flexible',
          connection: maria.connection(),
          namespaces: ['bank_b'],
          options: {
            subscriptionId: '6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b',
            resourceGroup: 'rg-1',
            server: 'bank-mysql',
            endpoint: azure.endpoint,
            caFile: azure.caFile,
            dummyCredentials: true,
            port: azure.serverPort,
            pollMs: 50,
            horizonLagMs: 200,
          },
        },
      ],
      artifacts: { dir: join(dir, 'artifacts') },
      catalog: { path: join(dir, 'catalog.db') },
    },
    { baseDir: dir },
  );
}

/** Runs the backup while the bank workload runs through both nodes (after some transfers committed). */
async function backupUnderLoad(leaseMs: number) {
  const controller = new AbortController();
  let warm!: () => void;
  const warmed = new Promise<void>((resolve) => (warm = resolve));
  const workload = runBankWorkload({
    targets: nodes.map((n) => n.address),
    accounts: ACCOUNTS,
    concurrency: 6,
    durationMs: 180_000,
    // A time-handle window spans the service clock's uncertainty (1 s Date headers: seconds, not
    // milliseconds); with the default 10 attempts (≥ 7.5 s) a loaded machine could exhaust a client's retries.
    unavailableAttempts: 40,
    signal: controller.signal,
    onProgress: (p) => (p.committed > 10 ? warm() : undefined),
  });
  await warmed;
  const result = await runBackup({ plan: managedPlan(leaseMs), catalog }).finally(() => controller.abort());
  const report = await workload;
  expect(report.committed).toBeGreaterThan(0);
  return { result, report };
}

describe('managed group: rds PostgreSQL + azure-flexible MySQL behind the fakes', () => {
  it('a pause-window backup under the bank workload restores to the mid-time and passes the checker', async () => {
    const { result, report } = await backupUnderLoad(10_000);
    expect(report.failed).toBe(0);
    expect(result.state, result.reason ?? '').toBe('complete');

    const restored = await runRestore(catalog, {
      backupId: result.backupId,
      targets: {},
      force: false,
      invariants: [bankInvariants],
    });
    expect(restored.checkSkipped).toBeNull();
    expect(restored.check?.violations).toEqual([]);
    expect(restored.ok).toBe(true);
    expect(restored.check?.stats).toMatchObject({ accounts: ACCOUNTS, totalBalance: ACCOUNTS * 1000 });
    expect(restored.check?.stats.transfers).toBeGreaterThan(0);
    expect(rds.calls).toContain('RestoreDBInstanceToPointInTime');
    expect(azure.calls.some((c) => c.startsWith('PUT'))).toBe(true);
  }, 400_000);

  it('service clocks skewed by +20 s / +15 s: the backup is consistent or invalid, never torn', async () => {
    rds.skewMs = 20_000;
    azure.skewMs = 15_000;
    try {
      // The window must cover 2 × (|offset| + uncertainty) ≈ 42 s: longer than an 8 s lease can hold.
      // Transfers that time out during the long pause attempts fail visibly (never acknowledged): allowed.
      const { result } = await backupUnderLoad(8_000);
      expect(['complete', 'invalid']).toContain(result.state);
      if (result.state === 'complete') {
        const restored = await runRestore(catalog, {
          backupId: result.backupId,
          targets: { pg: { instance: 'bank-pg-skewed' }, maria: { server: 'bank-mysql-skewed' } },
          force: false,
          invariants: [bankInvariants],
        });
        expect(restored.check?.violations).toEqual([]);
        expect(restored.ok).toBe(true);
      } else {
        expect(result.reason).toMatch(/WINDOW_INVALID/);
      }
      // Never left paused: the bank commits again through both nodes.
      const after = await runBankWorkload({
        targets: nodes.map((n) => n.address),
        accounts: ACCOUNTS,
        concurrency: 2,
        durationMs: 1_000,
      });
      expect(after.committed).toBeGreaterThan(0);
    } finally {
      rds.skewMs = 2_000;
      azure.skewMs = -1_500;
    }
  }, 400_000);
});
