/**
 * A mixed group — bank_a on PostgreSQL, bank_b and the Coordinator on DynamoDB (the real AWS SDK adapter
 * against the wire-protocol PITR fake over dynalite) — backed up with `stillpoint backup --plan` while two
 * `stillpoint node` processes run the bank workload, then restored into new names by the orchestrator with
 * PITR and auto-scaling re-applied, the recovery sweep and the checker passing. Run twice: the database
 * clock in step with ours, and skewed by 3 s (the measured offset moves the restore time; the pause is
 * sized for it).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../../src/catalog/catalog.ts';
import { AwsDynamoControlPlane } from '../../../src/engines/dynamodb/aws-control-plane.ts';
import { bankInvariants } from '../../../src/lab/bank/bank-invariants.ts';
import { setupBank } from '../../../src/lab/bank/bank-setup.ts';
import { runBankWorkload } from '../../../src/lab/bank/bank-workload.ts';
import { DynamoPitrFake } from '../../../src/lab/fakes/dynamodb-pitr-fake.ts';
import { startLocalDynalite, type LocalDynalite } from '../../../src/lab/local-servers/dynalite-server.ts';
import { startLocalPostgres, type LocalPostgres } from '../../../src/lab/local-servers/postgres-server.ts';
import { startCli, type CliProcess } from '../../../src/lab/trials/cli-process.ts';
import { runRestore } from '../../../src/orchestrator/restore.ts';
import { loadPlan } from '../../../src/plan/load-plan.ts';
import type { GroupConfig, StorageConfig } from '../../../src/txn/contract.ts';
import { openGroup } from '../../../src/txn/group.ts';

const ACCOUNTS = 20;
let dir: string;
let dyn: LocalDynalite;
let fake: DynamoPitrFake;
let pg: LocalPostgres;
let catalog: Catalog | undefined;
const processes: CliProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-mixed-dyn-'));
  [dyn, pg] = await Promise.all([startLocalDynalite(), startLocalPostgres()]);
  fake = await DynamoPitrFake.start({
    dataEndpoint: dyn.endpoint,
    region: dyn.region,
    lagMs: 300,
    creatingMs: 50,
  });
}, 120_000);
afterEach(async () => {
  for (const p of processes.splice(0)) {
    if (p.running) p.kill('SIGKILL');
    await p.exited;
  }
});
afterAll(async () => {
  catalog?.close();
  await fake?.destroy();
  await Promise.all([dyn?.destroy(), pg?.destroy()]);
  await rm(dir, { recursive: true, force: true });
});

const dynamo = (prefix: string): StorageConfig => ({
  kind: 'dynamodb',
  region: dyn.region,
  endpoint: fake.endpoint,
  dummyCredentials: true,
  prefix,
});

async function startNode(
  name: string,
  group: GroupConfig,
): Promise<{ process: CliProcess; address: string }> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, stringify({ name, group, listen: { host: '127.0.0.1', port: 0 }, expiryMs: 1_000 }), {
    mode: 0o600,
  });
  const child = startCli({ args: ['node', '--config', file, '--json'] });
  processes.push(child);
  const line = await child.waitForLine((_l, json) => json?.event === 'ready', 60_000);
  return { process: child, address: (JSON.parse(line) as { address: string }).address };
}

describe('mixed DynamoDB + PostgreSQL group (Coordinator on DynamoDB) through the CLI', () => {
  // The third case: a clock 20 s off needs a ~42 s window, longer than the nodes' 5 s pause lease — the
  // backup must come out `invalid`, or complete and restore consistently; never torn.
  for (const { skewMs, leaseMs } of [
    { skewMs: 0, leaseMs: 30_000 },
    { skewMs: 3_000, leaseMs: 30_000 },
    { skewMs: 20_000, leaseMs: 5_000 },
  ]) {
    it(`backs up under the bank workload; the restore (PITR and auto-scaling re-applied) passes the checker, or the backup is invalid (database clock skew ${skewMs} ms, pause lease ${leaseMs} ms)`, async () => {
      fake.skewMs = skewMs;
      const tag = `s${skewMs}`;
      const database = `bank_${tag}`;
      await pg.createDatabase(database);
      const group: GroupConfig = {
        storages: { pg: pg.connection(database), dyn: dynamo(`${tag}_`) },
        namespaces: { bank_a: 'pg', bank_b: 'dyn', coordinator: 'dyn' },
      };
      const opened = await openGroup(group);
      try {
        await setupBank(opened, { accounts: ACCOUNTS, initialBalance: 1000 });
      } finally {
        await opened.close();
      }
      const cp = new AwsDynamoControlPlane(dynamo('') as Extract<StorageConfig, { kind: 'dynamodb' }>);
      const accounts = (await cp.listTables(`${tag}_bank_b.`))[0] ?? '';
      await cp.registerScalableTarget(accounts, {
        dimension: 'dynamodb:table:WriteCapacityUnits',
        min: 5,
        max: 40,
      });
      await cp.putScalingPolicy(accounts, {
        name: 'write-60',
        dimension: 'dynamodb:table:WriteCapacityUnits',
        targetValue: 60,
      });
      const nodes = await Promise.all([startNode(`${tag}-n1`, group), startNode(`${tag}-n2`, group)]);
      const planFile = join(dir, `plan-${tag}.yaml`);
      await writeFile(
        planFile,
        stringify({
          version: 1,
          group: `mixed-${tag}`,
          mode: 'pause-window',
          window: { marginMs: 50, maxAttempts: 1 },
          clusters: [{ name: 'nodes', targets: { addresses: nodes.map((n) => n.address) }, leaseMs }],
          members: [
            {
              name: 'pg',
              engine: 'postgres',
              connection: pg.connection(database),
              namespaces: ['bank_a'],
              options: { method: 'logical' },
            },
            {
              name: 'dyn',
              engine: 'dynamodb',
              connection: dynamo(`${tag}_`),
              namespaces: ['bank_b', 'coordinator'],
              options: { enablePitr: true, pollMs: 100 },
            },
          ],
          artifacts: { dir: join(dir, `artifacts-${tag}`) },
          catalog: { path: join(dir, `catalog-${tag}.db`) },
        }),
        { mode: 0o600 },
      );

      // The workload runs until the backup has ended, then a little longer.
      const controller = new AbortController();
      let committed = 0;
      const workload = runBankWorkload({
        targets: nodes.map((n) => n.address),
        accounts: ACCOUNTS,
        concurrency: 4,
        durationMs: 300_000,
        // The skewed case holds the pause 2 × (3 s offset + 1 s uncertainty): calls wait it out.
        callDeadlineMs: 60_000,
        unavailableAttempts: 40,
        signal: controller.signal,
        onProgress: (p) => void (committed = p.committed),
      });
      await expect.poll(() => committed, { timeout: 60_000 }).toBeGreaterThan(10);
      const backup = startCli({ args: ['backup', '--plan', planFile, '--json'] });
      processes.push(backup);
      const ended = await backup.exited;
      const atBackupEnd = committed;
      await expect.poll(() => committed, { timeout: 60_000 }).toBeGreaterThan(atBackupEnd + 5);
      controller.abort();
      const report = await workload;
      // Transfers refused by a paused gate after all their retries (the 42 s window) never started: not a
      // consistency matter. Any other failure is.
      expect(Object.keys(report.errors).filter((e) => e !== 'GATE_PAUSED')).toEqual([]);
      if (skewMs < 20_000) expect(report.failed, JSON.stringify(report.errors)).toBe(0);
      const last = JSON.parse(ended.stdout.trim().split('\n').at(-1) ?? '{}') as { backupId: string };
      for (const n of nodes) n.process.kill('SIGTERM');

      const plan = loadPlan(planFile);
      catalog?.close();
      catalog = openCatalog(plan.catalogPath);
      const state = catalog.get(last.backupId).state;
      if (state === 'invalid') {
        // Consistent or invalid, never torn: an invalid backup is refused, nothing to restore.
        expect(skewMs, 'only the 20 s skew may end invalid').toBe(20_000);
        expect(ended.code).not.toBe(0);
        await cp.close();
        return;
      }
      expect(ended.code, ended.stdout + ended.stderr).toBe(0);
      expect(state).toBe('complete');
      const restored = await runRestore(catalog, {
        backupId: last.backupId,
        plan,
        invariants: [bankInvariants],
        intoDir: join(dir, `into-${tag}`),
        targets: { pg: { database: `${database}_restored` }, dyn: { prefix: `${tag}r_` } },
      });
      expect(restored.check?.violations ?? ['no check']).toEqual([]);
      expect(restored.state).toBe('restored');
      expect(restored.check?.stats).toMatchObject({ accounts: ACCOUNTS, totalBalance: ACCOUNTS * 1000 });
      const copy = accounts.replace(`${tag}_`, `${tag}r_`);
      for (const table of await cp.listTables(`${tag}r_`))
        expect((await cp.describeContinuousBackups(table)).enabled, table).toBe(true);
      expect(await cp.describeScalableTargets(copy)).toEqual([
        { dimension: 'dynamodb:table:WriteCapacityUnits', min: 5, max: 40 },
      ]);
      expect((await cp.describeScalingPolicies(copy)).map((p) => p.name)).toEqual(['write-60']);
      await cp.close();
    }, 300_000);
  }
});
