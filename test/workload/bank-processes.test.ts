/**
 * The bank through TWO node processes (`stillpoint node --config`, spawned like an operator would) sharing one
 * group of databases: SQLite files, and PostgreSQL + MariaDB servers started by the test. A node SIGKILLed
 * mid-workload leaves unfinished records; the sweep resolves them and the checker passes, with every
 * acknowledged transfer present.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkGroup } from '../../src/checker/check.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../../src/lab/local-servers/mariadb-server.ts';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import { startCli, type CliProcess } from '../../src/lab/trials/cli-process.ts';
import type { GroupConfig } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';
import { runBankWorkload } from '../../src/lab/bank/bank-workload.ts';

const ACCOUNTS = 20;
let dir: string;
const processes: CliProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-bank-'));
});
afterEach(async () => {
  for (const p of processes.splice(0)) {
    if (p.running) p.kill('SIGKILL');
    await p.exited;
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface NodeProcess {
  readonly process: CliProcess;
  readonly address: string;
}

async function startNodeProcess(name: string, group: GroupConfig): Promise<NodeProcess> {
  const file = join(dir, `${name}-${Date.now()}.yaml`);
  await writeFile(file, stringify({ name, group, listen: { host: '127.0.0.1', port: 0 }, expiryMs: 1_000 }));
  const child = startCli({ args: ['node', '--config', file, '--json'] });
  processes.push(child);
  const line = await child.waitForLine((_l, json) => json?.event === 'ready', 60_000);
  const ready = JSON.parse(line) as { address: string; adminPort: number; dataPort: number };
  expect(ready.adminPort).toBe(ready.dataPort);
  return { process: child, address: ready.address };
}

async function stop(node: NodeProcess): Promise<void> {
  node.process.kill('SIGTERM');
  const exit = await node.process.exited;
  expect(exit.code).toBe(0);
  expect(exit.stdout).toContain('"event":"stopped"');
}

async function seed(group: GroupConfig): Promise<void> {
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: ACCOUNTS, initialBalance: 1000 });
  } finally {
    await opened.close();
  }
}

async function twoNodesThenCheck(group: GroupConfig): Promise<void> {
  await seed(group);
  const nodes = await Promise.all([startNodeProcess('n1', group), startNodeProcess('n2', group)]);
  const report = await runBankWorkload({
    targets: nodes.map((n) => n.address),
    accounts: ACCOUNTS,
    concurrency: 6,
    durationMs: 3_000,
  });
  await Promise.all(nodes.map(stop));
  expect(report.failed).toBe(0);
  expect(report.committed).toBeGreaterThan(0);
  const check = await checkGroup(group, {
    invariants: [bankInvariants],
    sweep: true,
    expiryMs: 0,
    acknowledged: report.acknowledged,
  });
  expect(check.violations).toEqual([]);
  expect(check.stats).toMatchObject({
    accounts: ACCOUNTS,
    totalBalance: ACCOUNTS * 1000,
    transfers: report.committed - report.duplicates,
  });
}

async function killOneMidWorkload(group: GroupConfig): Promise<void> {
  await seed(group);
  const [victim, survivor] = await Promise.all([
    startNodeProcess('victim', group),
    startNodeProcess('survivor', group),
  ]);
  if (victim === undefined || survivor === undefined) throw new Error('nodes did not start');
  const controller = new AbortController();
  // Sized by progress, not by time (a loaded machine commits slowly): kill after some commits, stop once
  // the survivor has committed more after the kill.
  let committedAtKill: number | undefined;
  const workload = runBankWorkload({
    targets: [victim.address, survivor.address],
    accounts: ACCOUNTS,
    concurrency: 6,
    durationMs: 90_000,
    unavailableAttempts: 3,
    signal: controller.signal,
    onProgress: (p) => {
      if (committedAtKill === undefined && p.committed >= 20) {
        committedAtKill = p.committed;
        victim.process.kill('SIGKILL');
      } else if (committedAtKill !== undefined && p.committed >= committedAtKill + 20) {
        controller.abort();
      }
    },
  });
  const report = await workload;
  expect(committedAtKill).toBeDefined();
  expect(controller.signal.aborted).toBe(true);
  // Clients of the killed node fail over to the survivor, resending the same (idempotent) transfer ids.
  expect(report.failed).toBe(0);
  expect(report.retriesByReason.unavailable + report.retriesByReason.unknown).toBeGreaterThan(0);
  expect((await victim.process.exited).signal).toBe('SIGKILL');
  await stop(survivor);
  const check = await checkGroup(group, {
    invariants: [bankInvariants],
    sweep: true,
    expiryMs: 0,
    acknowledged: report.acknowledged,
  });
  expect(check.violations).toEqual([]);
  expect(check.stats.unfinished).toBe(0);
  expect(check.stats.totalBalance).toBe(ACCOUNTS * 1000);
  expect(check.stats.transfers).toBeGreaterThanOrEqual(report.committed - report.duplicates);
}

describe('bank on SQLite files, two node processes', () => {
  const sqliteGroup = (name: string): GroupConfig => ({
    storages: {
      a: { kind: 'sqlite', path: join(dir, `${name}-a.db`) },
      b: { kind: 'sqlite', path: join(dir, `${name}-b.db`) },
      c: { kind: 'sqlite', path: join(dir, `${name}-c.db`) },
    },
    namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'c' },
  });

  it('concurrent transfers through two nodes leave a consistent bank', async () => {
    await twoNodesThenCheck(sqliteGroup('two'));
  });

  it('a node SIGKILLed mid-workload: the sweep resolves what it left and the checker passes', async () => {
    await killOneMidWorkload(sqliteGroup('kill'));
  });
});

describe('bank on PostgreSQL + MariaDB, two node processes', () => {
  let pg: LocalPostgres | undefined;
  let maria: LocalMariaDb | undefined;
  beforeAll(async () => {
    [pg, maria] = await Promise.all([startLocalPostgres(), startLocalMariaDb()]);
  });
  afterAll(async () => {
    await Promise.all([pg?.destroy(), maria?.destroy()]);
  });

  async function serverGroup(name: string): Promise<GroupConfig> {
    if (!pg || !maria) throw new Error('servers did not start');
    await pg.createDatabase(name);
    // MySQL namespaces are databases with fixed names: drop what an earlier test left.
    for (const ns of ['bank_a', 'bank_b', 'coordinator'])
      await maria.query(`DROP DATABASE IF EXISTS \`${ns}\``);
    return {
      storages: { pg: pg.connection(name), maria: maria.connection() },
      namespaces: { bank_a: 'pg', coordinator: 'pg', bank_b: 'maria' },
    };
  }

  it('concurrent transfers across the two databases through two nodes leave a consistent bank', async () => {
    await twoNodesThenCheck(await serverGroup('two'));
  });

  it('a node SIGKILLed mid-workload: the sweep resolves what it left and the checker passes', async () => {
    await killOneMidWorkload(await serverGroup('kill'));
  });
});
