/**
 * Bank transactions per second through node PROCESSES (`stillpoint node`), one and two nodes, with and without
 * the gate, on SQLite files and on PostgreSQL + MariaDB; and the checker's speed (raw records per second).
 * The gate's cost is the ratio of throughput with the gate to without, measured back to back in one run.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkGroup } from '../src/checker/check.ts';
import { startLocalMariaDb } from '../src/lab/local-servers/mariadb-server.ts';
import { startLocalPostgres } from '../src/lab/local-servers/postgres-server.ts';
import { startCli, type CliProcess } from '../src/lab/trials/cli-process.ts';
import type { GroupConfig } from '../src/txn/contract.ts';
import { openGroup } from '../src/txn/group.ts';
import { setupBank } from '../src/lab/bank/bank-setup.ts';
import { runBankWorkload } from '../src/lab/bank/bank-workload.ts';
import type { Benchmark, BenchRow } from './contract.ts';

const ACCOUNTS = 100;
const CONCURRENCY = 8;

interface NodeProcess {
  readonly address: string;
  readonly child: CliProcess;
}

async function startNode(dir: string, group: GroupConfig, name: string, gate: boolean): Promise<NodeProcess> {
  const file = join(dir, `${name}-${Date.now()}.yaml`);
  await writeFile(
    file,
    stringify({ name, group, listen: { host: '127.0.0.1', port: 0 }, gate: { enabled: gate } }),
  );
  const child = startCli({ args: ['node', '--config', file, '--json'] });
  try {
    const line = await child.waitForLine((_l, json) => json?.event === 'ready', 60_000);
    return { address: (JSON.parse(line) as { address: string }).address, child };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** Committed transfers and elapsed ms of one round through `targets`. */
async function round(
  targets: readonly string[],
  durationMs: number,
): Promise<{ committed: number; ms: number }> {
  const report = await runBankWorkload({ targets, accounts: ACCOUNTS, concurrency: CONCURRENCY, durationMs });
  if (report.failed > 0)
    throw new Error(`${report.failed} transfers failed: ${JSON.stringify(report.errors)}`);
  return { committed: report.committed, ms: report.elapsedMs };
}

/**
 * Throughput of three settings measured in ALTERNATING short rounds (gated node, ungated node, two gated
 * nodes, repeat), so drift in the shared machine's load hits all three alike and the ratios stay meaningful.
 */
async function measure(
  dir: string,
  group: GroupConfig,
  quick: boolean,
): Promise<{ one: number; ungated: number; two: number }> {
  const nodes = await Promise.all([
    startNode(dir, group, 'gated-1', true),
    startNode(dir, group, 'ungated', false),
    startNode(dir, group, 'gated-2', true),
  ]);
  const [g1, u1, g2] = nodes.map((n) => n.address) as [string, string, string];
  try {
    // Warm-up: the first calls pay for connections and JIT.
    for (const targets of [[g1], [u1], [g2]]) await round(targets, 300);
    const settings = [[g1], [u1], [g1, g2]];
    const totals = settings.map(() => ({ committed: 0, ms: 0 }));
    for (let r = 0; r < (quick ? 3 : 8); r += 1) {
      for (const [i, targets] of settings.entries()) {
        const result = await round(targets, quick ? 1_000 : 2_000);
        const total = totals[i];
        if (total) {
          total.committed += result.committed;
          total.ms += result.ms;
        }
      }
    }
    const rate = (i: number): number =>
      ((totals[i]?.committed ?? 0) * 1000) / Math.max(1, totals[i]?.ms ?? 0);
    return { one: rate(0), ungated: rate(1), two: rate(2) };
  } finally {
    for (const n of nodes) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.child.exited));
  }
}

async function backendRows(
  label: string,
  dir: string,
  group: GroupConfig,
  quick: boolean,
): Promise<BenchRow[]> {
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: ACCOUNTS, initialBalance: 1000 });
  } finally {
    await opened.close();
  }
  const { one, ungated, two } = await measure(dir, group, quick);
  const check = await checkGroup(group);
  if (!check.ok)
    throw new Error(
      `checker failed after the ${label} runs: ${JSON.stringify(check.violations.slice(0, 3))}`,
    );
  const ratio = one / ungated;
  return [
    {
      metric: `bank tx/s, ${label}, 1 node (gate)`,
      value: one.toFixed(1),
      goal: '—',
      note: `${CONCURRENCY} clients, ${ACCOUNTS} accounts, alternating rounds`,
    },
    { metric: `bank tx/s, ${label}, 1 node (no gate)`, value: ungated.toFixed(1), goal: '—' },
    {
      metric: `bank tx/s, ${label}, 2 nodes (gate)`,
      value: two.toFixed(1),
      goal: '—',
      note: `${(two / one).toFixed(2)}× one node (2 cores shared with the databases and the clients)`,
    },
    {
      metric: `gate cost, ${label}: tx/s with gate / without`,
      value: `${ratio.toFixed(2)}×`,
      goal: '≥ 0.90×',
      met: ratio >= 0.9,
    },
    {
      metric: `checker, ${label}`,
      value: `${Math.round((check.stats.records * 1000) / Math.max(1, check.stats.elapsedMs))} records/s`,
      goal: '—',
      note: `${check.stats.records} records in ${check.stats.elapsedMs} ms`,
    },
  ];
}

export const benchmarks: readonly Benchmark[] = [
  {
    name: 'bank',
    async run({ quick }) {
      const dir = await mkdtemp(join(tmpdir(), 'stillpoint-bench-bank-'));
      try {
        const sqlite: GroupConfig = {
          storages: {
            a: { kind: 'sqlite', path: join(dir, 'a.db') },
            b: { kind: 'sqlite', path: join(dir, 'b.db') },
            c: { kind: 'sqlite', path: join(dir, 'c.db') },
          },
          namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'c' },
        };
        const rows = await backendRows('SQLite', dir, sqlite, quick);
        const [pg, maria] = await Promise.all([startLocalPostgres(), startLocalMariaDb()]);
        try {
          await pg.createDatabase('bench');
          const servers: GroupConfig = {
            storages: { pg: pg.connection('bench'), maria: maria.connection() },
            namespaces: { bank_a: 'pg', coordinator: 'pg', bank_b: 'maria' },
          };
          rows.push(...(await backendRows('PostgreSQL + MariaDB', dir, servers, quick)));
        } finally {
          await Promise.all([pg.destroy(), maria.destroy()]);
        }
        return rows;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
];
