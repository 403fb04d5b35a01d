/**
 * `stillpoint demo`: the whole story on one machine, with SQLite and no servers to install.
 *
 * Three SQLite databases (bank_a, bank_b, coordinator) → three `stillpoint node` processes over them →
 * the bank workload through the nodes → several consistent backups under that load (snapshot mode through
 * the real pause protocol) → each restored into a fresh directory → the recovery sweep and the checker on
 * each restore → a report: each backup's pause window, the workload's dip, the checker's verdicts.
 *
 * `group: 'postgres+mariadb'` tells the same story on throwaway PostgreSQL + MariaDB servers from the lab
 * (./demo-servers.ts), alternating PITR and logical backups, each restore checked with the bank invariants.
 *
 * Everything it starts (node processes, database servers, the temp directory unless `dir` was given) it
 * stops and removes, also when aborted (SIGINT in the CLI).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openCatalog } from '../../catalog/catalog.ts';
import { checkGroup } from '../../checker/check.ts';
import { bankInvariants } from '../bank/bank-invariants.ts';
import { runBackup, type BackupResult } from '../../orchestrator/backup.ts';
import type { BackupEvent } from '../../orchestrator/events.ts';
import { sleep } from '../../orchestrator/modes.ts';
import type { RestoreTarget } from '../../engines/contract.ts';
import { runRestore } from '../../orchestrator/restore.ts';
import { loadPlan } from '../../plan/load-plan.ts';
import { runBankWorkload, type BankProgress } from '../bank/bank-workload.ts';
import { seedBank, sqliteBackend, writeNodeConfigs } from './demo-setup.ts';
import { startServerBackend, type DemoBackend } from './demo-servers.ts';
import { startNodeProcess, type NodeProcess } from './node-process.ts';

/** The databases the demo runs on. */
export const DEMO_GROUPS = ['sqlite', 'postgres+mariadb'] as const;
export type DemoGroupKind = (typeof DEMO_GROUPS)[number];

export interface DemoOptions {
  /** Which databases (default sqlite: nothing to install). */
  readonly group?: DemoGroupKind;
  /** Working directory (kept afterwards). Default: a new temp directory, removed afterwards. */
  readonly dir?: string;
  /** Keep the temp directory (default false). */
  readonly keep?: boolean;
  /**
   * Where backups go: an artifact store URL (s3://…, azblob://…, with `?compression=…&encryption=…`).
   * Default: a directory under the demo's. SQLite group only (the PostgreSQL/MariaDB group's PITR archive
   * needs a local directory).
   */
  readonly artifacts?: string;
  /** Node processes (default 3). */
  readonly nodes?: number;
  /** Bank accounts (default 100). */
  readonly accounts?: number;
  /** Concurrent workload clients (default 8). */
  readonly concurrency?: number;
  /** Backups to take under load (default 3, at least 1). */
  readonly backups?: number;
  /** Load before the first backup and between backups, ms (default 1500). */
  readonly intervalMs?: number;
  /** Shortest pause window held, ms (default 0: snapshot mode needs no hold). */
  readonly minWindowMs?: number;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: DemoEvent) => void;
}

export type DemoEvent =
  | { readonly type: 'demo'; readonly step: string; readonly detail?: string }
  | BackupEvent
  | {
      readonly type: 'workload';
      readonly elapsedMs: number;
      readonly committed: number;
      readonly failed: number;
    };

export interface DemoBackupReport {
  readonly backupId: string;
  /** snapshot (SQLite), logical or pitr. */
  readonly method: string;
  readonly state: string;
  readonly reason: string | null;
  readonly attempts: number;
  readonly windowMs: number | null;
  readonly drainMs: number | null;
  readonly restoredInto: string | null;
  readonly checkOk: boolean;
  readonly violations: number;
  readonly sweep: {
    rolledForward: number;
    rolledBack: number;
    abortedExpired: number;
    unresolved: number;
  } | null;
  readonly transfersInRestore: number | null;
}

export interface DemoReport {
  readonly dir: string;
  readonly backups: readonly DemoBackupReport[];
  readonly workload: {
    readonly committed: number;
    readonly failed: number;
    readonly throughput: number;
    /** Committed transfers per second in one-second samples that overlapped a pause, and in the others. */
    readonly duringPausesTps: number | null;
    readonly outsidePausesTps: number | null;
    readonly pausedWaitMaxMs: number;
  };
  readonly liveCheckOk: boolean;
  readonly ok: boolean;
}

/** Runs the demo; resolves with the report (its `ok` says whether every check passed). */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const dir =
    options.dir !== undefined ? resolve(options.dir) : mkdtempSync(join(tmpdir(), 'stillpoint-demo-'));
  const removeDir = options.dir === undefined && options.keep !== true;
  const emit = options.onEvent ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  const nodes: NodeProcess[] = [];
  const backends: DemoBackend[] = [];
  try {
    return await demoSteps(dir, options, emit, signal, nodes, backends);
  } finally {
    emit({
      type: 'demo',
      step: 'cleanup',
      detail: `stopping ${nodes.length} node(s)${backends.length > 0 && options.group === 'postgres+mariadb' ? ' and the database servers' : ''}`,
    });
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(backends.map((b) => b.close()));
    if (removeDir) rmSync(dir, { recursive: true, force: true });
  }
}

const LEASE_MS = 5000;

async function demoSteps(
  dir: string,
  options: DemoOptions,
  emit: (e: DemoEvent) => void,
  signal: AbortSignal,
  nodes: NodeProcess[],
  backends: DemoBackend[],
): Promise<DemoReport> {
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const backendOptions = { leaseMs: LEASE_MS, minWindowMs: options.minWindowMs ?? 0 };
  if (options.group === 'postgres+mariadb')
    emit({ type: 'demo', step: 'servers', detail: 'starting throwaway PostgreSQL and MariaDB servers' });
  const backend =
    options.group === 'postgres+mariadb'
      ? await startServerBackend(dir, backendOptions)
      : sqliteBackend(dir, dataDir, backendOptions);
  backends.push(backend);
  signal.throwIfAborted();
  const group = backend.group;
  const accounts = options.accounts ?? 100;
  emit({ type: 'demo', step: 'setup', detail: `${dir}: ${backend.description}, ${accounts} accounts` });
  await seedBank(group, accounts);
  const configs = writeNodeConfigs(join(dir, 'nodes'), group, options.nodes ?? 3);
  signal.throwIfAborted();
  // In parallel: each node process spends most of its start-up compiling the sources.
  const started = await Promise.allSettled(configs.map((file, i) => startNodeProcess(file, `node-${i + 1}`)));
  for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  for (const n of nodes) emit({ type: 'demo', step: 'node-started', detail: `${n.name} on ${n.address}` });
  const addresses = nodes.map((n) => n.address);
  const plans = Array.from({ length: Math.max(1, options.backups ?? 3) }, (_, i) => {
    const plan = loadPlan(backend.planFor(i, addresses));
    return options.artifacts === undefined ? plan : { ...plan, artifactsDir: options.artifacts };
  });
  const catalog = openCatalog(plans[0]!.catalogPath);
  try {
    const load = startLoad(nodes, accounts, options.concurrency ?? 8, signal, emit);
    const results: BackupResult[] = [];
    try {
      const interval = options.intervalMs ?? 1500;
      for (const [i, plan] of plans.entries()) {
        await sleep(interval, signal);
        emit({ type: 'demo', step: 'backup', detail: `backup ${i + 1} (${backend.methodOf(i)}) under load` });
        results.push(await runBackup({ plan, catalog, signal, onEvent: emit }));
      }
      await sleep(Math.min(interval, 1000), signal);
    } finally {
      load.stop.abort();
    }
    const workload = await load.done;
    emit({
      type: 'demo',
      step: 'live-check',
      detail: 'checking the live databases, every acknowledged transfer included',
    });
    const live = await checkGroup(group, {
      invariants: [bankInvariants],
      acknowledged: workload.acknowledged,
      signal,
    });
    const backups: DemoBackupReport[] = [];
    for (const [i, r] of results.entries()) {
      const into = join(dir, `restore-${i + 1}`);
      const where = r.state === 'complete' ? await backend.restoreInto(i, into) : {};
      backups.push(await restoreAndCheck(catalog, r, backend.methodOf(i), where, signal, emit));
    }
    const windows = results.flatMap((r) => (r.window ? [r.window] : []));
    const dip = throughputDip(load.samples, load.startedAt, windows);
    const ok = live.ok && backups.every((b) => b.state === 'complete' && b.checkOk);
    return {
      dir,
      backups,
      workload: {
        committed: workload.committed,
        failed: workload.failed,
        throughput: workload.throughput,
        ...dip,
        pausedWaitMaxMs: workload.pausedWaitMaxMs,
      },
      liveCheckOk: live.ok,
      ok,
    };
  } finally {
    catalog.close();
  }
}

function startLoad(
  nodes: readonly NodeProcess[],
  accounts: number,
  concurrency: number,
  signal: AbortSignal,
  emit: (e: DemoEvent) => void,
) {
  const stop = new AbortController();
  const samples: BankProgress[] = [];
  const startedAt = Date.now();
  emit({
    type: 'demo',
    step: 'workload',
    detail: `${concurrency} clients transferring between bank_a and bank_b through ${nodes.length} nodes`,
  });
  const done = runBankWorkload({
    targets: nodes.map((n) => n.address),
    accounts,
    concurrency,
    signal: AbortSignal.any([signal, stop.signal]),
    onProgress: (p) => {
      samples.push(p);
      emit({ type: 'workload', elapsedMs: p.elapsedMs, committed: p.committed, failed: p.failed });
    },
  });
  return { stop, samples, startedAt, done };
}

async function restoreAndCheck(
  catalog: ReturnType<typeof openCatalog>,
  r: BackupResult,
  method: string,
  where: { intoDir?: string; targets?: Record<string, RestoreTarget> },
  signal: AbortSignal,
  emit: (e: DemoEvent) => void,
): Promise<DemoBackupReport> {
  const base = {
    backupId: r.backupId,
    method,
    state: r.state,
    reason: r.reason,
    attempts: r.attempts,
    windowMs: r.window ? r.window.unpauseStartedAtMs - r.window.pausedAtMs : null,
    drainMs: r.drainMs,
  };
  if (r.state !== 'complete')
    return {
      ...base,
      restoredInto: null,
      checkOk: false,
      violations: 0,
      sweep: null,
      transfersInRestore: null,
    };
  const into = where.intoDir ?? describeTargets(where.targets);
  emit({ type: 'demo', step: 'restore', detail: `${r.backupId} (${method}) → ${into}` });
  const report = await runRestore(catalog, {
    backupId: r.backupId,
    ...where,
    invariants: [bankInvariants],
    signal,
  });
  const check = report.check;
  // CHECKED only when the checker ran on the restored group and found it consistent.
  emit({
    type: 'demo',
    step: 'checked',
    detail: `${r.backupId}: ${check === null ? 'NOT CHECKED' : check.ok ? 'CHECKED, consistent' : 'VIOLATIONS'}`,
  });
  return {
    ...base,
    restoredInto: into,
    checkOk: report.ok && check !== null && report.checkSkipped === null,
    violations: check?.stats.violationsTotal ?? 0,
    sweep: check?.stats.sweep ?? null,
    transfersInRestore: typeof check?.stats.transfers === 'number' ? check.stats.transfers : null,
  };
}

function describeTargets(targets: Record<string, RestoreTarget> | undefined): string {
  if (targets === undefined) return 'new names next to each source';
  return Object.entries(targets)
    .map(([member, t]) => `${member} ${JSON.stringify(t)}`)
    .join(', ');
}

/**
 * Throughput in one-second progress samples that overlapped a pause window vs the others. Coarse (the
 * pauses last milliseconds, a sample one second) but honest: it shows what a client would notice.
 */
export function throughputDip(
  samples: readonly BankProgress[],
  startedAt: number,
  windows: readonly { pausedAtMs: number; unpauseStartedAtMs: number }[],
): { duringPausesTps: number | null; outsidePausesTps: number | null } {
  const sums = { during: { n: 0, ms: 0 }, outside: { n: 0, ms: 0 } };
  let prev = { elapsedMs: 0, committed: 0 };
  for (const s of samples) {
    const from = startedAt + prev.elapsedMs;
    const to = startedAt + s.elapsedMs;
    const overlaps = windows.some((w) => w.pausedAtMs < to && w.unpauseStartedAtMs > from);
    const bucket = overlaps ? sums.during : sums.outside;
    bucket.n += s.committed - prev.committed;
    bucket.ms += s.elapsedMs - prev.elapsedMs;
    prev = s;
  }
  const rate = (b: { n: number; ms: number }): number | null =>
    b.ms > 0 ? Math.round((b.n * 1000) / b.ms) : null;
  return { duringPausesTps: rate(sums.during), outsidePausesTps: rate(sums.outside) };
}
