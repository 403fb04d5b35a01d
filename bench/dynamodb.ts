/**
 * The DynamoDB group's pause window and restore time (issue 14). A mixed group — bank_a on PostgreSQL,
 * bank_b and the Coordinator on DynamoDB (the real AWS SDK adapter against the wire-protocol PITR fake over
 * dynalite) — under the bank workload from two `stillpoint node` processes; `runBackup` in pause-window mode
 * N times back to back. The DynamoDB member's restore time is a clock reading, so the window must hold
 * 2 × (abs(offset) + uncertainty) + margin: with AWS's `Date` header (1 s resolution) that clock margin is
 * about 2 s and dominates. Reported: the window p50/p99, the clock margin it needed, and the window beyond
 * that margin (the goal ≤ 50 ms p99 applies to this part). Then the in-place restore dance of the DynamoDB
 * member (restore to alias → delete → copy back → PITR → settings → auto-scaling → delete alias) against
 * the fake, per table.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Benchmark, BenchRow } from './contract.ts';
import { openCatalog } from '../src/catalog/catalog.ts';
import { resolveMember } from '../src/engines/registry.ts';
import { setupBank } from '../src/lab/bank/bank-setup.ts';
import { runBankWorkload } from '../src/lab/bank/bank-workload.ts';
import { DynamoPitrFake } from '../src/lab/fakes/dynamodb-pitr-fake.ts';
import { startLocalDynalite } from '../src/lab/local-servers/dynalite-server.ts';
import { startLocalPostgres } from '../src/lab/local-servers/postgres-server.ts';
import { startCli, type CliProcess } from '../src/lab/trials/cli-process.ts';
import { createLocalDirStore } from '../src/artifacts/local-dir-store.ts';
import { runBackup } from '../src/orchestrator/backup.ts';
import { loadPlan } from '../src/plan/load-plan.ts';
import type { GroupConfig, StorageConfig } from '../src/txn/contract.ts';
import { openGroup } from '../src/txn/group.ts';

const GOAL_P99_MS = 50;
const MARGIN_MS = 50;
const ACCOUNTS = 100;

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const ms = (v: number): string => `${v.toFixed(0)} ms`;

async function run({ quick }: { readonly quick: boolean }): Promise<BenchRow[]> {
  const backups = quick ? 3 : 12;
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-bench-dyn-'));
  const [dyn, pg] = await Promise.all([startLocalDynalite(), startLocalPostgres()]);
  const fake = await DynamoPitrFake.start({
    dataEndpoint: dyn.endpoint,
    region: dyn.region,
    lagMs: 300,
    creatingMs: 50,
  });
  const nodes: CliProcess[] = [];
  try {
    await pg.createDatabase('bank');
    const dynamo: StorageConfig = {
      kind: 'dynamodb',
      region: dyn.region,
      endpoint: fake.endpoint,
      dummyCredentials: true,
      prefix: 'b_',
    };
    const group: GroupConfig = {
      storages: { pg: pg.connection('bank'), dyn: dynamo },
      namespaces: { bank_a: 'pg', bank_b: 'dyn', coordinator: 'dyn' },
    };
    const opened = await openGroup(group);
    await setupBank(opened, { accounts: ACCOUNTS, initialBalance: 1000 }).finally(() => opened.close());
    const addresses: string[] = [];
    for (const name of ['n1', 'n2']) {
      const file = join(dir, `${name}.yaml`);
      await writeFile(
        file,
        stringify({ name, group, listen: { host: '127.0.0.1', port: 0 }, expiryMs: 1_000 }),
        { mode: 0o600 },
      );
      const child = startCli({ args: ['node', '--config', file, '--json'] });
      nodes.push(child);
      const line = await child.waitForLine((_l, json) => json?.event === 'ready', 60_000);
      addresses.push((JSON.parse(line) as { address: string }).address);
    }
    const planFile = join(dir, 'plan.yaml');
    await writeFile(
      planFile,
      stringify({
        version: 1,
        group: 'bench-dyn',
        mode: 'pause-window',
        window: { marginMs: MARGIN_MS },
        clusters: [{ name: 'nodes', targets: { addresses }, leaseMs: 30_000 }],
        members: [
          {
            name: 'pg',
            engine: 'postgres',
            connection: pg.connection('bank'),
            namespaces: ['bank_a'],
            options: { method: 'logical' },
          },
          {
            name: 'dyn',
            engine: 'dynamodb',
            connection: dynamo,
            namespaces: ['bank_b', 'coordinator'],
            options: { enablePitr: true, pollMs: 100 },
          },
        ],
        artifacts: { dir: join(dir, 'artifacts') },
        catalog: { path: join(dir, 'catalog.db') },
      }),
      { mode: 0o600 },
    );
    const plan = loadPlan(planFile);
    const catalog = openCatalog(plan.catalogPath);
    const controller = new AbortController();
    const load = runBankWorkload({
      targets: addresses,
      accounts: ACCOUNTS,
      concurrency: 6,
      durationMs: 3_600_000,
      callDeadlineMs: 60_000,
      unavailableAttempts: 40,
      signal: controller.signal,
    });
    const windows: number[] = [];
    const margins: number[] = [];
    const uncertainties: number[] = [];
    let last: Awaited<ReturnType<typeof runBackup>> | undefined;
    try {
      for (let i = 0; i < backups; i++) {
        const result = await runBackup({ plan, catalog });
        if (result.state !== 'complete' || result.window === null) continue;
        last = result;
        const handle = result.members.find((m) => m.name === 'dyn')?.handle;
        if (handle?.kind !== 'time') continue;
        windows.push(result.window.unpauseStartedAtMs - result.window.pausedAtMs);
        margins.push(2 * (Math.abs(handle.clockOffsetMs) + handle.uncertaintyMs) + MARGIN_MS);
        uncertainties.push(handle.uncertaintyMs);
      }
    } finally {
      controller.abort();
      await load;
    }
    for (const n of nodes) n.kill('SIGTERM');
    const beyond = windows.map((w, i) => w - (margins[i] ?? 0));
    const rows: BenchRow[] = [
      { metric: `backups complete / run`, value: `${windows.length} / ${backups}`, goal: '—' },
      { metric: 'pause window p50', value: ms(percentile(windows, 50)), goal: '—' },
      {
        metric: 'pause window p99',
        value: ms(percentile(windows, 99)),
        goal: `≤ ${GOAL_P99_MS} ms + clock margin`,
      },
      {
        metric: 'clock margin needed, p50 / p99',
        value: `${ms(percentile(margins, 50))} / ${ms(percentile(margins, 99))}`,
        goal: '—',
        note: `2 × (abs(offset) + uncertainty) + ${MARGIN_MS} ms; uncertainty p50 ${ms(percentile(uncertainties, 50))} (Date header: 1 s resolution + half the round trip)`,
      },
      {
        metric: 'window beyond the clock margin, p50 / p99',
        value: `${ms(percentile(beyond, 50))} / ${ms(percentile(beyond, 99))}`,
        goal: `≤ ${GOAL_P99_MS} ms p99`,
        met: percentile(beyond, 99) <= GOAL_P99_MS,
        note: 'includes the PostgreSQL member capture and the orchestrator steps inside the pause',
      },
    ];
    // The in-place restore dance of the DynamoDB member, against the fake, per table.
    const stored = last === undefined ? undefined : catalog.get(last.backupId);
    const entry = stored?.members.find((m) => m.name === 'dyn');
    const record =
      stored === undefined || entry?.handle == null
        ? undefined
        : {
            backupId: stored.id,
            member: entry.spec,
            handle: entry.handle,
            artifacts: stored.artifacts.filter((a) => a.member === 'dyn'),
          };
    if (record !== undefined) {
      const { kind, options } = resolveMember(record.member);
      const store = createLocalDirStore(join(dir, 'artifacts'));
      const session = kind.openRestore(
        { record, target: undefined, artifacts: store, log: { info: () => {}, warn: () => {} } },
        options,
      );
      const tables = (await session.plan()).filter((s) => s.title.startsWith('restore ')).length;
      const started = performance.now();
      await session.restore({ force: true, allowSource: true, signal: new AbortController().signal });
      const elapsed = performance.now() - started;
      await session.close();
      rows.push({
        metric: 'in-place restore dance per table (fake)',
        value: ms(elapsed / Math.max(1, tables)),
        goal: '—',
        note: `${tables} tables, ${ACCOUNTS / 2} accounts in bank_b; the fake's restores read CREATING for 50 ms (AWS: minutes)`,
      });
    }
    catalog.close();
    return rows;
  } finally {
    for (const n of nodes) if (n.running) n.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await fake.destroy();
    await Promise.all([dyn.destroy(), pg.destroy()]);
    await rm(dir, { recursive: true, force: true });
  }
}

export const benchmarks: readonly Benchmark[] = [{ name: 'dynamodb', run }];
