/**
 * The mixed group, proven: PostgreSQL (bank_a + the Coordinator) and MariaDB (bank_b) under the bank workload
 * through two nodes. Backups through the orchestrator in each mode and method, taken WHILE transfers run,
 * restored through the restore runner (checksums, sweep, checker): every one is consistent. Negative
 * control: the same engines copying each member at a different instant WITHOUT a pause are caught torn by
 * the checker in at least one of N attempts — so the checker can fail, and the pause is what differs.
 */
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import type { MemberSpec, RestoreTarget } from '../../src/engines/contract.ts';
import { stopRestoredMariaDb } from '../../src/engines/mariadb/pitr/restore.ts';
import { stopRestoredPostgres } from '../../src/engines/postgres/pitr/restore.ts';
import { suggestedArchiveCommand } from '../../src/engines/postgres/pitr/archive.ts';
import { freePort } from '../../src/lab/local-servers/process.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import { handOver } from '../../src/lab/local-servers/process.ts';
import { bankNodeService } from '../../src/lab/bank/bank-service.ts';
import { startNode, type RunningNode } from '../../src/node/node.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { parsePlan, type Plan } from '../../src/plan/load-plan.ts';
import { copyWithoutPause } from '../../src/lab/trials/negative-control.ts';
import { createRandom } from '../../src/lab/trials/random.ts';
import type { GroupConfig } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';
import { runBankWorkload, type BankReport } from '../../src/lab/bank/bank-workload.ts';

const ACCOUNTS = 20;
const NEGATIVE_ATTEMPTS = 5;

let dir: string;
let artifactsDir: string;
let pg: LocalPostgres;
let maria: LocalMariaDb;
/** An empty MariaDB that logical restores go to, so the databases keep their names. */
let mariaTarget: LocalMariaDb;
let group: GroupConfig;
let nodes: RunningNode[] = [];
let catalog: Catalog;
const restoredPg: string[] = [];
const restoredMaria: string[] = [];

function members(method: 'logical' | 'pitr'): MemberSpec[] {
  return [
    {
      name: 'pg',
      engine: 'postgres',
      connection: pg.connection('bank'),
      namespaces: ['bank_a', 'coordinator'],
      options: { method },
    },
    {
      name: 'maria',
      engine: 'mariadb',
      connection: maria.connection(),
      namespaces: ['bank_b'],
      options: { method },
    },
  ];
}

function planFor(method: 'logical' | 'pitr', mode: 'snapshot' | 'pause-window'): Plan {
  return parsePlan(
    {
      version: 1,
      group: 'mixed',
      mode,
      clusters: [{ name: 'nodes', targets: { addresses: nodes.map((n) => n.address) }, leaseMs: 10_000 }],
      members: members(method),
      artifacts: { dir: artifactsDir },
      catalog: { path: join(dir, 'catalog.db') },
    },
    { baseDir: dir },
  );
}

/** Runs `during` while the bank workload runs through both nodes (after some transfers committed). */
async function underLoad<T>(during: () => Promise<T>): Promise<{ value: T; report: BankReport }> {
  const controller = new AbortController();
  let started!: () => void;
  const warm = new Promise<void>((resolve) => (started = resolve));
  const workload = runBankWorkload({
    targets: nodes.map((n) => n.address),
    accounts: ACCOUNTS,
    concurrency: 6,
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

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-mixed-'));
  await chmod(dir, 0o755);
  artifactsDir = join(dir, 'artifacts');
  const walDir = join(artifactsDir, 'shared', 'pg', 'wal');
  await mkdir(walDir, { recursive: true });
  await chmod(artifactsDir, 0o755);
  await handOver('postgres', join(artifactsDir, 'shared'), join(artifactsDir, 'shared', 'pg'), walDir);
  pg = await startLocalPostgres({
    conf: [
      'wal_level = replica',
      'archive_mode = on',
      `archive_command = '${suggestedArchiveCommand(walDir).replaceAll("'", "''")}'`,
    ],
  });
  maria = await startLocalMariaDb();
  mariaTarget = await startLocalMariaDb();
  await pg.createDatabase('bank');
  group = {
    storages: { pg: pg.connection('bank'), maria: maria.connection() },
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
});

afterAll(async () => {
  catalog?.close();
  await Promise.all(nodes.map((n) => n.close()));
  for (const d of restoredPg) await stopRestoredPostgres(d);
  for (const d of restoredMaria) await stopRestoredMariaDb(d);
  await Promise.all([pg?.destroy(), maria?.destroy(), mariaTarget?.destroy()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function restoreTargets(
  method: 'logical' | 'pitr',
  tag: string,
): Promise<Record<string, RestoreTarget>> {
  if (method === 'logical') {
    return {
      pg: { database: `restored_${tag}` },
      maria: { host: '127.0.0.1', port: mariaTarget.port, inPlace: true },
    };
  }
  const pgDir = join(dir, `pg-${tag}`);
  const mariaDir = join(dir, `maria-${tag}`);
  restoredPg.push(pgDir);
  restoredMaria.push(mariaDir);
  // A PITR target names its port (the default is the source's port + 1, which a test server may not leave free).
  return { pg: { dataDir: pgDir, port: await freePort() }, maria: { dir: mariaDir } };
}

describe('mixed group (PostgreSQL + MariaDB) under the bank workload through two nodes', () => {
  const cases = [
    ['logical', 'snapshot'],
    ['logical', 'pause-window'],
    ['pitr', 'snapshot'],
    ['pitr', 'pause-window'],
  ] as const;
  for (const [method, mode] of cases) {
    it(`${method} backup in mode ${mode}: restored group passes the checker`, async () => {
      const plan = planFor(method, mode);
      const { value: result, report } = await underLoad(() => runBackup({ plan, catalog }));
      expect(report.committed).toBeGreaterThan(0);
      expect(result.state, result.reason ?? '').toBe('complete');
      expect(result.mode).toBe(mode);
      for (const m of result.members) {
        expect(m.captureMs).not.toBeNull();
        expect(m.bytes).toBeGreaterThan(0);
      }
      const tag = `${method}_${mode.replace('-', '_')}`;
      const restored = await runRestore(catalog, {
        backupId: result.backupId,
        targets: await restoreTargets(method, tag),
        force: true,
        invariants: [bankInvariants],
      });
      expect(restored.checkSkipped).toBeNull();
      expect(restored.check?.violations).toEqual([]);
      expect(restored.ok).toBe(true);
      expect(restored.check?.stats).toMatchObject({ accounts: ACCOUNTS, totalBalance: ACCOUNTS * 1000 });
      expect(restored.check?.stats.transfers).toBeGreaterThan(0);
    });
  }

  it('negative control: copying each member at a different instant without a pause is caught torn', async () => {
    const random = createRandom(5);
    const specs = members('logical');
    const outcomes: boolean[] = [];
    await underLoad(async () => {
      for (let attempt = 0; attempt < NEGATIVE_ATTEMPTS && !outcomes.includes(true); attempt++) {
        const result = await copyWithoutPause(
          {
            members: specs,
            dir,
            restoreTarget: (m, a): RestoreTarget =>
              m.name === 'pg'
                ? { database: `nc_${a}` }
                : { host: '127.0.0.1', port: mariaTarget.port, inPlace: true },
            random,
            gapMs: [150, 300],
            signal: new AbortController().signal,
          },
          attempt,
        );
        outcomes.push(result.torn);
      }
    });
    expect(outcomes).toContain(true);
  });
});
