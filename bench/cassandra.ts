/**
 * Cassandra engine on a REAL 3-node Cassandra 5.0 cluster (127.0.0.1-3, RF 3) with one agent per node:
 *
 * - the pause window of a group under the bank workload: bank_a, bank_b and the Coordinator on the cluster
 *   (one `cassandra` member), three `stillpoint node` processes, the bank workload from this process, and N
 *   backups, each one `stillpoint backup --plan --json` in its own process. The window is the one the backup
 *   records (all nodes paused → unpause started). Inside it: the member's capture (every node's snapshot
 *   through its agent, in parallel), of which each node's agent reports its JMX call and the flush share of
 *   it (the engine's prepare flushed every node before the pause, so this flush only writes what the load
 *   wrote since), the rest being the orchestrator's validity check, catalog writes and the unpause send;
 * - bytes uploaded by a second backup after ~1 % of rows changed, as a share of the first backup's
 *   (differential upload of immutable SSTables).
 *
 * The machine is shared: the load average at the start and end of the run is part of the note.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeOps } from '../src/agent/node-ops.ts';
import { startAgentServer, type AgentServer } from '../src/agent/server.ts';
import { createLocalDirStore } from '../src/artifacts/local-dir-store.ts';
import { resolveMember } from '../src/engines/registry.ts';
import type { MemberSpec } from '../src/engines/contract.ts';
import {
  cassandraUnavailable,
  startLocalCassandra,
  type LocalCassandra,
} from '../src/lab/local-servers/cassandra-server.ts';
import { writeTrialPlan } from '../src/lab/trials/backup-process.ts';
import { startCli } from '../src/lab/trials/cli-process.ts';
import type { TrialDatabases } from '../src/lab/trials/group.ts';
import { seedBank, startLoad, startNodes } from '../src/lab/trials/group-setup.ts';
import { DEFAULT_SIZES } from '../src/lab/trials/sizes.ts';
import { createStorage } from '../src/txn/storages/index.ts';
import type { Benchmark, BenchRow } from './contract.ts';

const never = new AbortController().signal;
const log = { info: () => {}, warn: () => {} };
const GOAL_WINDOW_P99_MS = 100;
const SIZES = { ...DEFAULT_SIZES, nodes: 3, accounts: 100, concurrency: 6 };

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const pair = (values: readonly number[]): string =>
  `${percentile(values, 50).toFixed(0)} / ${percentile(values, 99).toFixed(0)} ms`;
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** What one backup's result line says about its window. */
interface WindowSample {
  readonly state: string;
  readonly reason: string | null;
  readonly windowMs: number;
  readonly captureMs: number;
  /** Slowest node's agent snapshot call and slowest node's flush share, ms. */
  readonly snapshotMs: number;
  readonly flushMs: number;
}

interface BackupLine {
  state: string;
  reason: string | null;
  window?: { pausedAtMs: number; unpauseStartedAtMs: number } | null;
  members?: {
    captureMs: number | null;
    handle?: { detail?: { pause?: { snapshotMs: number; flushMs?: number }[] } } | null;
  }[];
}

async function startAgents(cluster: LocalCassandra): Promise<AgentServer[]> {
  return Promise.all(
    cluster.nodes.map((n) =>
      startAgentServer(
        new NodeOps({
          nodetool: n.nodetoolArgv,
          dataDirs: [n.dataDir],
          jmx: { host: '127.0.0.1', port: n.jmxPort },
        }),
        { host: '127.0.0.1', port: 0 },
      ),
    ),
  );
}

/** N backups of the bank group under load; one sample per backup (+1 warm-up, dropped). */
async function pauseWindows(
  cluster: LocalCassandra,
  agents: readonly AgentServer[],
  dir: string,
  count: number,
): Promise<WindowSample[]> {
  const connection = cluster.connection();
  const member: MemberSpec = {
    name: 'cass',
    engine: 'cassandra',
    connection,
    namespaces: ['bank_a', 'bank_b', 'coordinator'],
    options: { agents: agents.map((a) => ({ url: a.url })) },
  };
  const databases: TrialDatabases = {
    kind: 'cassandra',
    dir,
    group: {
      storages: { cass: connection },
      namespaces: { bank_a: 'cass', bank_b: 'cass', coordinator: 'cass' },
    },
    members: [member],
    proxies: new Map(),
    stopServer: () => Promise.reject(new Error('not in a benchmark')),
    close: () => Promise.resolve(),
  };
  await seedBank(databases, SIZES.accounts);
  const cleanups: Array<() => Promise<void>> = [];
  const controller = new AbortController();
  try {
    const nodes = await startNodes(dir, databases, SIZES, cleanups);
    const plan = await writeTrialPlan({
      dir,
      mode: 'pause-window',
      adminAddresses: nodes.map((n) => n.address),
      members: [member],
      leaseMs: 15_000,
      drainTimeoutMs: 10_000,
      minWindowMs: 0,
    });
    const workload = startLoad(
      SIZES,
      nodes.map((n) => n.address),
      controller.signal,
    );
    cleanups.push(async () => {
      controller.abort();
      await workload.catch(() => undefined);
    });
    await new Promise((r) => setTimeout(r, 2_000)); // the load reaches its pace before the first backup
    const samples: WindowSample[] = [];
    for (let i = 0; i <= count; i++) {
      const cli = startCli({ args: ['backup', '--plan', plan.file, '--json'] });
      const exit = await cli.exited;
      const line = JSON.parse(exit.stdout.trim().split('\n').at(-1) ?? '{}') as BackupLine;
      const w = line.window;
      const m = line.members?.[0];
      const pause = m?.handle?.detail?.pause ?? [];
      if (i === 0) continue; // warm-up: the agents' JMX helpers start and compile
      samples.push({
        state: line.state ?? `exit ${exit.code}`,
        reason: line.reason ?? (exit.code === 0 ? null : exit.stderr.trim().slice(-200)),
        windowMs: w ? w.unpauseStartedAtMs - w.pausedAtMs : NaN,
        captureMs: m?.captureMs ?? NaN,
        snapshotMs: Math.max(...pause.map((p) => p.snapshotMs)),
        flushMs: Math.max(...pause.map((p) => p.flushMs ?? NaN)),
      });
    }
    return samples;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

/** Bytes of a second backup after 1 % of rows changed, against the first (engine sessions, no pause). */
async function differential(
  cluster: LocalCassandra,
  agents: readonly AgentServer[],
  root: string,
  rows: number,
): Promise<BenchRow> {
  const store = createLocalDirStore(root);
  const storage = await createStorage('cass', cluster.connection());
  try {
    const T = { namespace: 'bench_bank', table: 'accounts' };
    await storage.createTable({
      ...T,
      partitionKey: ['id'],
      clusteringKey: [],
      columns: { id: 'INT', note: 'TEXT' },
    });
    const put = (id: number, note: string) => ({
      kind: 'put' as const,
      table: T,
      key: { id },
      values: { note },
    });
    for (let i = 0; i < rows; i += 500) {
      await storage.mutate(
        Array.from({ length: Math.min(500, rows - i) }, (_, j) =>
          put(i + j, randomBytes(450).toString('hex')),
        ),
      );
    }
    const member: MemberSpec = {
      name: 'cass',
      engine: 'cassandra',
      connection: cluster.connection(),
      namespaces: ['bench_bank'],
      options: { agents: agents.map((a) => ({ url: a.url })) },
    };
    const backup = async (id: string): Promise<number> => {
      const { kind, options } = resolveMember(member);
      const ctx = { backupId: id, member, artifacts: store, artifactPrefix: `${id}/cass/` };
      const s = kind.openBackup({ ...ctx, sharedPrefix: 'shared/cass/', log }, options);
      try {
        await s.prepare(never);
        await s.capture(never);
        const f = await s.finish({ pausedAtMs: 0, unpauseStartedAtMs: 0, midMs: 0 }, never);
        return (f.detail as { uploadedBytes: number }).uploadedBytes;
      } finally {
        await s.close();
      }
    };
    const first = await backup('b1');
    const changed = Math.round(rows / 100);
    await storage.mutate(
      Array.from({ length: changed }, (_, i) => put(i * 97, randomBytes(450).toString('hex'))),
    );
    const second = await backup('b2');
    const ratio = second / first;
    return {
      metric: 'second backup after 1 % of rows changed: bytes uploaded / first backup, 3 nodes',
      value: `${(ratio * 100).toFixed(2)} %`,
      goal: '≤ 5 %',
      met: ratio <= 0.05,
      note: `${first} B then ${second} B (all three nodes' SSTables, RF 3); ${rows} rows, ${changed} changed`,
    };
  } finally {
    await storage.close();
  }
}

async function run({ quick }: { readonly quick: boolean }): Promise<readonly BenchRow[]> {
  const why = cassandraUnavailable();
  if (why !== undefined) return [{ metric: 'cassandra', value: 'skipped', goal: '—', note: why }];
  const loadBefore = load();
  const cluster = await startLocalCassandra({ nodes: 3, heapMb: 320 });
  const agents = await startAgents(cluster);
  const root = await mkdtemp(join(tmpdir(), 'stillpoint-bench-cass-'));
  try {
    await mkdir(join(root, 'window'));
    const samples = await pauseWindows(cluster, agents, join(root, 'window'), quick ? 5 : 20);
    const ok = samples.filter((s) => s.state === 'complete');
    const failures = samples.filter((s) => s.state !== 'complete').map((s) => `${s.state}: ${s.reason}`);
    const windows = ok.map((s) => s.windowMs);
    const p99 = percentile(windows, 99);
    const diff = await differential(cluster, agents, join(root, 'diff'), quick ? 2_000 : 10_000);
    const loads = `load average ${loadBefore} at the start, ${load()} at the end (1/5/15 min; 2 cores shared)`;
    return [
      {
        metric: 'pause window p50 / p99, 3-node Cassandra group under the bank workload',
        value: pair(windows),
        goal: `≤ ${GOAL_WINDOW_P99_MS} ms p99`,
        met: ok.length > 0 && failures.length === 0 && p99 <= GOAL_WINDOW_P99_MS,
        note:
          `${ok.length}/${samples.length} backups complete` +
          (failures.length > 0 ? ` (NOT COMPLETE: ${[...new Set(failures)].join(' | ')})` : '') +
          `; bank_a, bank_b, Coordinator in one member, 3 stillpoint nodes, ${SIZES.concurrency} clients; ${loads}`,
      },
      {
        metric: 'inside the window: capture (3 agents in parallel) p50 / p99',
        value: pair(ok.map((s) => s.captureMs)),
        goal: '—',
        note: `the rest of the window is the orchestrator's validity check, catalog writes and the unpause send: p50 / p99 ${pair(ok.map((s) => s.windowMs - s.captureMs))}`,
      },
      {
        metric: "inside the capture: slowest node's JMX snapshot call / its flush share, p50 / p99",
        value: `${pair(ok.map((s) => s.snapshotMs))} / ${pair(ok.map((s) => s.flushMs))}`,
        goal: '—',
        note: 'flush = forceKeyspaceFlush of the 3 keyspaces (prepare already flushed every node before the pause); the remainder of the call is takeSnapshot (hard links, skipFlush) and the agent’s HTTP round trip is the capture minus the call',
      },
      diff,
    ];
  } finally {
    await Promise.all(agents.map((a) => a.close()));
    await cluster.destroy();
    await rm(root, { recursive: true, force: true });
  }
}

export const benchmarks: readonly Benchmark[] = [{ name: 'cassandra', run }];
