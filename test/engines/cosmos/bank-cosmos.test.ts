/**
 * A group with a Cosmos DB member (bank_b + the Coordinator on a real cosmosdb-server behind the ARM fake)
 * and a SQLite member (bank_a), under the bank workload through two in-process nodes: a backup through the
 * orchestrator WHILE transfers run, then a restore through the restore runner into a NEW Cosmos DB account
 * (STRONG set, stored procedure recreated) and a new SQLite file; the sweep and the checker pass.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../../src/catalog/catalog.ts';
import { ArmCosmosControlPlane } from '../../../src/engines/cosmos/arm-control-plane.ts';
import { createCosmosEngine } from '../../../src/engines/cosmos/engine.ts';
import { registerEngineKind } from '../../../src/engines/registry.ts';
import { bankInvariants } from '../../../src/lab/bank/bank-invariants.ts';
import { bankNodeService } from '../../../src/lab/bank/bank-service.ts';
import { setupBank } from '../../../src/lab/bank/bank-setup.ts';
import { runBankWorkload, type BankReport } from '../../../src/lab/bank/bank-workload.ts';
import {
  startCosmosManagementFake,
  type CosmosManagementFake,
} from '../../../src/lab/fakes/cosmos-management-fake.ts';
import { startNode, type RunningNode } from '../../../src/node/node.ts';
import { runBackup } from '../../../src/orchestrator/backup.ts';
import { runRestore } from '../../../src/orchestrator/restore.ts';
import { parsePlan } from '../../../src/plan/load-plan.ts';
import type { GroupConfig, StorageConfig } from '../../../src/txn/contract.ts';
import {
  STORED_PROCEDURE_BODY,
  STORED_PROCEDURE_ID,
} from '../../../src/txn/storages/cosmos/stored-procedure.ts';
import { openGroup } from '../../../src/txn/group.ts';

const ACCOUNTS = 20;
let dir: string;
let fake: CosmosManagementFake;
let cosmos: StorageConfig;
let nodes: RunningNode[] = [];
let catalog: Catalog;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-bank-cosmos-'));
  await chmod(dir, 0o700);
  fake = await startCosmosManagementFake();
  // The built-in kind authenticates with DefaultAzureCredential; here the same adapter gets the fake's token.
  registerEngineKind(
    createCosmosEngine(
      (_m, o) =>
        new ArmCosmosControlPlane({
          subscriptionId: o.subscriptionId,
          resourceGroup: o.resourceGroup,
          endpoint: fake.endpoint,
          caFile: fake.caFile,
          credential: fake.credential,
        }),
    ),
  );
  const { endpoint, caFile, key } = await fake.createAccount('bank');
  // A plan never holds a secret inline: the account key goes to a 0600 file.
  const keyFile = join(dir, 'bank.key');
  await writeFile(keyFile, key, { mode: 0o600 });
  cosmos = { kind: 'cosmos', endpoint, caFile, passwordFile: keyFile, mutations: 'etag' };
  const group: GroupConfig = {
    storages: { lite: { kind: 'sqlite', path: join(dir, 'bank_a.db') }, cos: cosmos },
    namespaces: { bank_a: 'lite', bank_b: 'cos', coordinator: 'cos' },
  };
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: ACCOUNTS, initialBalance: 1000 });
  } finally {
    await opened.close();
  }
  const arm = new ArmCosmosControlPlane({
    subscriptionId: fake.subscriptionId,
    resourceGroup: fake.resourceGroup,
    endpoint: fake.endpoint,
    caFile: fake.caFile,
    credential: fake.credential,
  });
  for (const [db, container] of [
    ['bank_b', 'accounts'],
    ['coordinator', 'state'],
  ] as const)
    await arm.putStoredProcedure('bank', db, container, {
      id: STORED_PROCEDURE_ID,
      body: STORED_PROCEDURE_BODY,
    });
  nodes = await Promise.all(
    ['n1', 'n2'].map((name) =>
      startNode(
        { name, group, listen: { host: '127.0.0.1', port: 0 }, expiryMs: 1_000 },
        { log: () => undefined, services: [bankNodeService] },
      ),
    ),
  );
  catalog = openCatalog(join(dir, 'catalog.db'));
}, 120_000);

afterAll(async () => {
  catalog?.close();
  await Promise.all(nodes.map((n) => n.close()));
  await fake?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function underLoad<T>(during: () => Promise<T>): Promise<{ value: T; report: BankReport }> {
  const controller = new AbortController();
  let started!: () => void;
  const warm = new Promise<void>((resolve) => (started = resolve));
  const workload = runBankWorkload({
    targets: nodes.map((n) => n.address),
    accounts: ACCOUNTS,
    concurrency: 4,
    durationMs: 120_000,
    signal: controller.signal,
    onProgress: (p) => (p.committed > 10 ? started() : undefined),
  });
  await warm;
  try {
    return { value: await during(), report: await (controller.abort(), workload) };
  } finally {
    controller.abort();
    await workload.catch(() => undefined);
  }
}

describe('SQLite + Cosmos DB group under the bank workload', () => {
  for (const skewMs of [0, 4_000, -4_000]) {
    it(`a backup taken under load (service clock skewed ${skewMs} ms) is consistent or invalid, never torn; restored into a new Cosmos DB account (STRONG, stored procedures), it passes the checker`, async () => {
      fake.setSkew(skewMs);
      const tag = `s${skewMs < 0 ? 'm' : ''}${Math.abs(skewMs)}`;
      const plan = parsePlan(
        {
          version: 1,
          group: 'cosmos-mixed',
          clusters: [{ name: 'nodes', targets: { addresses: nodes.map((n) => n.address) }, leaseMs: 10_000 }],
          members: [
            {
              name: 'lite',
              engine: 'sqlite',
              connection: { kind: 'sqlite', path: join(dir, 'bank_a.db') },
              namespaces: ['bank_a'],
            },
            {
              name: 'cos',
              engine: 'cosmos',
              connection: cosmos,
              namespaces: ['bank_b', 'coordinator'],
              options: {
                subscriptionId: fake.subscriptionId,
                resourceGroup: fake.resourceGroup,
                account: 'bank',
                pollMs: 50,
                horizonTimeoutMs: 30_000,
              },
            },
          ],
          artifacts: { dir: join(dir, 'artifacts') },
          catalog: { path: join(dir, 'catalog.db') },
        },
        { baseDir: dir },
      );
      const { value: result, report } = await underLoad(() => runBackup({ plan, catalog }));
      expect(report.committed).toBeGreaterThan(0);
      // A skew the measurement cannot cover makes the backup invalid; it is never silently torn.
      expect(['complete', 'invalid'], result.reason ?? '').toContain(result.state);
      if (skewMs === 0) expect(result.state, result.reason ?? '').toBe('complete');
      console.info(`cosmos bank backup, service clock skewed ${skewMs} ms: ${result.state}`);
      if (result.state === 'invalid') return;
      const restored = await runRestore(catalog, {
        backupId: result.backupId,
        targets: {
          lite: { path: join(dir, `restored_bank_a_${tag}.db`) },
          cos: { account: `bank-${tag}`, keyFile: join(dir, `bank-${tag}.key`) },
        },
        invariants: [bankInvariants],
      });
      expect(restored.check?.violations).toEqual([]);
      expect(restored.ok).toBe(true);
      expect(restored.check?.stats).toMatchObject({ accounts: ACCOUNTS, totalBalance: ACCOUNTS * 1000 });
      expect(restored.check?.stats.transfers).toBeGreaterThan(0);
      const cos = restored.group?.storages.cos as { endpoint: string } | undefined;
      expect(cos?.endpoint).not.toBe((cosmos as { endpoint: string }).endpoint);
      expect(fake.account(`bank-${tag}`)).toMatchObject({ consistency: 'Strong' });
      expect(fake.account(`bank-${tag}`)?.procedures).toHaveLength(2);
    }, 240_000);
  }
});
