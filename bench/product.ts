/**
 * Bank throughput with and without backups running (ratio): two node processes over an SQLite group, the
 * bank workload from this process, and a separate backup process taking consistent backups back to back
 * (snapshot mode, pause + capture + copy) — as an operator's scheduled backups would run. The memory peak of
 * a backup is in ./memory.ts.
 *
 * Also runnable as `tsx bench/product.ts --backup-loop <plan.yaml>`: the backup process of the first
 * benchmark (backups until SIGTERM, then prints their count as JSON).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Benchmark, BenchRow } from './contract.ts';
import { openCatalog } from '../src/catalog/catalog.ts';
import { runBackup } from '../src/orchestrator/backup.ts';
import { loadPlan } from '../src/plan/load-plan.ts';
import { writeTrialPlan } from '../src/lab/trials/backup-process.ts';
import type { TrialDatabases } from '../src/lab/trials/group.ts';
import { TRIAL_GROUPS } from '../src/lab/trials/groups/index.ts';
import { seedBank, startLoad, startNodes } from '../src/lab/trials/group-setup.ts';
import { DEFAULT_SIZES } from '../src/lab/trials/sizes.ts';

export async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-bench-product-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function sqliteGroup(dir: string, accounts: number): Promise<TrialDatabases> {
  const databases = await (await TRIAL_GROUPS.sqlite.start()).create(dir, 0);
  await seedBank(databases, accounts);
  return databases;
}

// ---------------------------------------------------------------------------------------------------------
// Throughput with and without backups
// ---------------------------------------------------------------------------------------------------------

async function throughput(quick: boolean): Promise<BenchRow[]> {
  const phaseMs = quick ? 5_000 : 20_000;
  return withDir(async (dir) => {
    const sizes = { ...DEFAULT_SIZES, nodes: 2, accounts: 100, concurrency: 8 };
    const databases = await sqliteGroup(dir, sizes.accounts);
    const cleanups: Array<() => Promise<void>> = [];
    try {
      const nodes = await startNodes(dir, databases, sizes, cleanups);
      const plan = await writeTrialPlan({
        dir,
        mode: 'snapshot',
        adminAddresses: nodes.map((n) => n.address),
        members: databases.members,
        leaseMs: 15_000,
        drainTimeoutMs: 10_000,
        minWindowMs: 0,
      });
      const targets = nodes.map((n) => n.address);
      const load = (ms: number) => startLoad(sizes, targets, AbortSignal.timeout(ms));
      await load(1_000); // warm up: connections, SQLite caches
      // Baseline before and after, averaged: the machine's load drifts during a run.
      const before = await load(phaseMs);
      const loop = startBackupLoop(plan.file);
      await new Promise((r) => setTimeout(r, 3_000)); // let the loop process start before measuring
      const during = await load(phaseMs);
      const backups = await loop.stop();
      const after = await load(phaseMs);
      const baseline = (before.throughput + after.throughput) / 2;
      const ratio = during.throughput / baseline;
      const waitShare = `${((100 * during.pausedWaitMs) / (sizes.concurrency * during.elapsedMs)).toFixed(1)}%`;
      return [
        {
          metric: 'bank throughput without backups (2 nodes, SQLite)',
          value: `${baseline.toFixed(0)} tx/s`,
          goal: '—',
        },
        {
          metric: 'bank throughput while backups run back to back',
          value: `${during.throughput.toFixed(0)} tx/s`,
          goal: '—',
          note: `${backups} backups in ${(phaseMs / 1000).toFixed(0)} s + 3 s; clients spent ${waitShare} of their time waiting on paused nodes (retry backoff included)`,
        },
        {
          metric: 'throughput with backups / without',
          value: `${ratio.toFixed(2)}×`,
          goal: '≥ 0.80×',
          met: ratio >= 0.8,
          note: 'the backup process (copies back to back) shares the 2 cores with the nodes and the clients',
        },
      ];
    } finally {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      await databases.close();
    }
  });
}

/** A child process taking backups back to back (this file with --backup-loop). */
function startBackupLoop(planFile: string): { stop(): Promise<number> } {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--backup-loop', planFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const last = out.trim().split('\n').at(-1) ?? '{}';
      return (JSON.parse(last) as { complete?: number }).complete ?? 0;
    },
  };
}

async function backupLoop(planFile: string): Promise<void> {
  const plan = loadPlan(planFile);
  const catalog = openCatalog(plan.catalogPath);
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort());
  let complete = 0;
  try {
    while (!controller.signal.aborted) {
      const result = await runBackup({ plan, catalog, signal: controller.signal });
      if (result.state === 'complete') complete += 1;
    }
  } finally {
    catalog.close();
  }
  process.stdout.write(`${JSON.stringify({ complete })}\n`);
}

export const benchmarks: readonly Benchmark[] = [
  { name: 'product: bank throughput with backups running', run: ({ quick }) => throughput(quick) },
];

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv[2] === '--backup-loop'
) {
  await backupLoop(process.argv[3] ?? 'plan.yaml');
}
