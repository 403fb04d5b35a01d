/**
 * One trial: a fresh group, three node processes, the bank workload, a backup in its own process, one
 * fault at one moment; then the checks that make a trial pass or fail (see {@link runTrial}).
 */
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { checkGroup } from '../../checker/check.ts';
import { bankInvariants } from '../bank/bank-invariants.ts';
import { asStillpointError, InternalError } from '../../errors.ts';
import type { PauseClient, Target } from '../../pause/contract.ts';
import type { BankReport } from '../bank/bank-workload.ts';
import { startBackup, writeTrialPlan, type BackupRun } from './backup-process.ts';
import { clockOffsetExecArgv } from './clock-offset.ts';
import { applyFault, chooseClockOffset, UPFRONT_FAULTS, type AppliedFault } from './fault-apply.ts';
import { faultSpec, type BackupOutcome, type FaultKind, type FaultMoment, type GroupKind } from './faults.ts';
import type { TrialGroupServers } from './group.ts';
import type { GroupPool } from './group-pool.ts';
import { TRIAL_CLEANUP, type TrialSizes } from './sizes.ts';

import { startTrialNode, type TrialNode } from './nodes.ts';
import { startDnsServer, type DnsServer } from './srv-dns.ts';
import { startPauseMonitor } from './pause-monitor.ts';
import type { Random } from './random.ts';
import type { TrialResult } from './report.ts';
import { recoverFromOtherHost } from './other-host.ts';
import {
  coordinatorRowsLeft,
  nodeNames,
  nodesKey,
  nodeSettings,
  seedBank,
  startLoad,
  startNodes,
} from './group-setup.ts';
import { checkRestores, readOutcome, recover } from './restore-phase.ts';
import { PhaseClock } from './phases.ts';
import type { BackupSpares } from './spare-backup.ts';
// Types only: the SDKs behind the stores load when the first trial needs them (runner.ts).
import type { ArtifactStores, RemoteStoreKind } from './artifact-stores.ts';
import { checkCatalogReadable } from './catalog-kill.ts';
import { encryptedArtifacts } from './key-missing-restore.ts';

/** Healing a fault (a restart, a server start, a joiner stopped) longer than this is a harness failure. */
const HEAL_TIMEOUT_MS = 120_000;

/** Slack on top of the lease for "unpaused within the lease": polling, process start, a busy machine. */
const UNPAUSE_SLACK_MS = 3_000;

export interface TrialSpec {
  readonly index: number;
  readonly random: Random;
  readonly group: GroupKind;
  readonly mode: string;
  readonly fault: FaultKind;
  readonly moment: FaultMoment;
  readonly dir: string;
  /** The started group kind (shared servers/fakes): builds this trial's group, names restore targets. */
  readonly servers: TrialGroupServers;
  /** Groups kept between trials (./group-pool.ts). */
  readonly pool: GroupPool;
  /** Backup processes started ahead (./spare-backup.ts); absent: each trial starts its own. */
  readonly spares?: BackupSpares;
  /** The campaign's remote artifact stores (started on first use, ./artifact-stores.ts). */
  readonly artifactStores: () => Promise<ArtifactStores>;
  readonly sizes: TrialSizes;
  readonly pauseClient: PauseClient;
  readonly signal: AbortSignal;
}

/** How the backup finds the nodes: the plan's fixed list, or DNS SRV (needed to see a node join). */
export type Discovery = 'addresses' | 'srv';
const DISCOVERIES: readonly Discovery[] = ['addresses', 'srv'];
const SRV_NAME = '_admin._tcp.trial.test';

const REMOTE_STORE_KINDS: readonly RemoteStoreKind[] = ['s3', 'azblob'];

/**
 * Groups whose group and nodes may serve several trials (./group-pool.ts). Not cassandra: its group is
 * not yet tried on a kept cluster. The time-handle groups restore a kept account or table a second time;
 * their fakes' write logs run on the host clock (a kept group's service clock is reset for the next trial,
 * which must not reorder the log) and record no reads (cosmos+sqlite's first reuse restored the previous
 * trial's query answers as documents: a false torn restore, docs/trials.md).
 */
const REUSABLE_GROUPS: ReadonlySet<GroupKind> = new Set([
  'sqlite',
  'postgres+mariadb',
  'cosmos+sqlite',
  'dynamodb+postgres',
  'managed',
]);

/** Faults whose trial puts its artifacts in a remote store (S3 or Azure Blob) behind a proxy. */
const STORE_FAULTS: ReadonlySet<FaultKind> = new Set([
  'artifact-store-unreachable',
  'artifact-store-slow',
  'artifact-store-fails-midway',
]);

/** Faults that need the window held open long enough for a process to start inside it. */
const SLOW_FAULTS: ReadonlySet<FaultKind> = new Set([
  'node-kill',
  'node-restart',
  'node-join',
  'database-stop',
  'database-restart',
]);

/**
 * Runs one trial. Violations (never thrown): a node still paused after the lease; a `complete` backup
 * that fails to restore or fails the checker; an acknowledged transfer missing from the live databases
 * or a live inconsistency; an outcome the fault does not allow; a backup that hung.
 */
export async function runTrial(input: TrialSpec): Promise<TrialResult> {
  const spec: TrialSpec =
    input.fault === 'coordinator-cleanup'
      ? { ...input, sizes: { ...input.sizes, coordinatorCleanup: TRIAL_CLEANUP } }
      : input;
  const started = Date.now();
  const violations: string[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  let outcome: BackupOutcome = 'none';
  let reason: string | null = null;
  let backupId: string | null = null;
  let restoreChecked = false;
  let acknowledged = 0;
  let longestPausedMs = 0;
  let clientStallMs = { p99: 0, max: 0 };
  let faultApplied = false;
  let faultDetail: string | null = null;
  let harnessError: string | null = null;
  let discovery: Discovery = 'addresses';
  let attempts = 0;
  const phases = new PhaseClock();
  try {
    await mkdir(spec.dir, { recursive: true });
    discovery = spec.fault === 'node-join' ? 'srv' : spec.random.pick(DISCOVERIES);
    const clock =
      spec.fault === 'clock-offset' ? chooseClockOffset(nodeNames(spec.sizes), spec.random) : undefined;
    // A node with an offset clock is started for this trial only; any other trial may take the kept group.
    const lease = await spec.pool.acquire(
      spec.group,
      spec.servers,
      nodesKey(spec.sizes),
      REUSABLE_GROUPS.has(spec.group) && (clock === undefined || clock.process === 'orchestrator'),
      async (dir, servers, groupCleanups) => {
        const databases = await servers.create(dir, spec.index);
        groupCleanups.push(() => databases.close());
        phases.mark('group');
        await seedBank(databases, spec.sizes.accounts);
        phases.mark('seed');
        return { databases, nodes: await startNodes(dir, databases, spec.sizes, groupCleanups, clock) };
      },
    );
    // Kept for the next trial only when this one found the group whole (harnessError is set by then).
    cleanups.push(() => lease.release(violations.length === 0 && harnessError === null));
    const { databases } = lease;
    const nodes = [...lease.nodes];
    // A joiner is started up front but outside the service: joining (DNS entry, then traffic) is instant.
    const joiner =
      spec.fault === 'node-join'
        ? await startTrialNode(spec.dir, 'joiner', databases.group, nodeSettings(spec.sizes))
        : undefined;
    if (joiner !== undefined) cleanups.push(() => joiner.close());
    phases.mark('nodes');
    const dns =
      discovery === 'srv'
        ? await startDnsServer({
            [SRV_NAME]: nodes.map((n) => ({ target: n.proxy.host, port: n.proxy.port })),
          })
        : undefined;
    if (dns !== undefined) cleanups.push(() => dns.close());
    const monitor = startPauseMonitor(spec.pauseClient, () =>
      [...nodes, ...(joiner === undefined ? [] : [joiner])].map(directTarget),
    );
    cleanups.push(() => monitor.stop());

    // A kept group's cleanup ran in earlier trials too: count this trial's deletions from here.
    const coordinatorAtStart =
      spec.fault === 'coordinator-cleanup' ? await coordinatorRowsLeft(databases) : undefined;
    const load = new AbortController();
    const workloads: Array<Promise<BankReport>> = [
      startLoad(
        spec.sizes,
        nodes.map((n) => n.address),
        load.signal,
      ),
    ];
    cleanups.push(async () => {
      load.abort();
      await Promise.allSettled(workloads);
    });
    await sleep(spec.sizes.warmupMs);
    phases.mark('warmup');

    // Where the artifacts go: the local directory, or what the fault breaks (a remote store, a key).
    const artifactsDir = join(spec.dir, 'artifacts');
    const store = STORE_FAULTS.has(spec.fault)
      ? await (await spec.artifactStores()).create(spec.random.pick(REMOTE_STORE_KINDS), spec.random)
      : undefined;
    const encrypted =
      spec.fault === 'encryption-key-missing' ? await encryptedArtifacts(spec.dir, artifactsDir) : undefined;
    if (encrypted !== undefined) cleanups.push(() => Promise.resolve(encrypted.restoreEnv()));
    const plan = await writeTrialPlan({
      dir: spec.dir,
      mode: spec.mode,
      adminAddresses: nodes.map((n) => n.proxy.address),
      ...(dns === undefined ? {} : { srv: { name: SRV_NAME, dnsServer: dns.address } }),
      members: databases.members,
      leaseMs: spec.sizes.leaseMs,
      // In-flight transactions get 5 s to finish: at 2 s, one no-fault trial of the issue-18 campaign failed
      // its pause (PAUSE_TIMED_OUT) on a machine at load 40 — the product's right answer, not a trial's.
      drainTimeoutMs: 5_000,
      captureTimeoutMs: spec.sizes.captureTimeoutMs,
      minWindowMs: SLOW_FAULTS.has(spec.fault) ? 2_500 : spec.random.int(0, 300),
      ...(store === undefined ? {} : { artifactsUrl: store.url }),
      ...(encrypted === undefined ? {} : { artifactsUrl: encrypted.url }),
    });
    const target = {
      nodes,
      databases,
      random: spec.random,
      joinNode: () => joinService(joiner, dns, spec.sizes, workloads, load.signal),
      artifactsDir: plan.artifactsDir,
      catalogPath: plan.catalogPath,
      ...(store === undefined ? {} : { artifactStore: store }),
      ...(clock === undefined ? {} : { clockOffset: clock }),
      ...(spec.servers.skewServiceClock === undefined
        ? {}
        : { skewServiceClock: spec.servers.skewServiceClock }),
    };

    let applied: AppliedFault | undefined;
    let appliedAtMs = 0;
    let applying: Promise<void> = Promise.resolve();
    const apply = (backup: BackupRun | undefined): void => {
      faultApplied = true;
      appliedAtMs = Date.now();
      applying = applyFault(spec.fault, target, backup).then((a) => {
        applied = a;
        faultDetail = a.note;
      });
      // Handled where it is awaited, after the backup ended; until then a failure must not count as an
      // unhandled rejection (which ends the whole campaign's process: a campaign lost its last 90 minutes so).
      applying.catch(() => undefined);
    };
    if (UPFRONT_FAULTS.has(spec.fault)) apply(undefined);
    await applying;
    const backupClock = clock?.process === 'orchestrator' ? clockOffsetExecArgv(clock.offsetMs) : [];
    const backup: BackupRun = startBackup(
      plan,
      spec.moment,
      () => {
        if (!UPFRONT_FAULTS.has(spec.fault)) apply(backup);
      },
      backupClock,
      undefined,
      spec.spares?.take(backupClock),
    );
    const exit = await withTimeout(backup.exited, spec.sizes.backupTimeoutMs);
    if (exit === undefined) {
      violations.push(
        `backup did not end within ${spec.sizes.backupTimeoutMs} ms (states: ${backup.states().join(' → ')})`,
      );
      backup.process.kill('SIGKILL');
      await backup.exited;
    }
    await applying;
    if (applied?.violation !== undefined) violations.push(applied.violation);
    const endedAt = Date.now();
    // The next trial's backup process starts loading now, while this one checks its results.
    void spec.spares?.refill();
    phases.mark('backup');

    // Every node must end unpaused: at once when the orchestrator ran to the end, else within the lease.
    const stillPaused = await monitor.waitAllUnpaused(
      endedAt + spec.sizes.leaseMs + UNPAUSE_SLACK_MS - Date.now(),
    );
    if (stillPaused.length > 0) {
      violations.push(
        `node(s) ${stillPaused.join(', ')} still paused ${spec.sizes.leaseMs + UNPAUSE_SLACK_MS} ms after the backup ended`,
      );
    }
    if (
      applied !== undefined &&
      (await withTimeout(
        applied.heal().then(() => true),
        HEAL_TIMEOUT_MS,
      )) === undefined
    ) {
      throw new InternalError(
        'TRIAL_HEAL_HUNG',
        `healing the fault ${spec.fault} did not end within ${HEAL_TIMEOUT_MS} ms.`,
      );
    }
    phases.mark('unpause+heal');
    backupId = backup.backupId();
    attempts = backup.attempts();
    if (applied?.recoverElsewhere === true && exit !== undefined)
      violations.push(...(await recoverFromOtherHost(plan, appliedAtMs)));
    else if (applied?.orchestratorKilled === true || exit === undefined) await recover(plan, violations);
    // A kill at a catalog write: the catalog must still be whole before anything reads it.
    if (spec.fault === 'catalog-kill-midwrite') violations.push(...checkCatalogReadable(plan.catalogPath));
    ({ outcome, reason, backupId } = readOutcome(plan, backupId));
    phases.mark('recovery');
    if (outcome === 'none' && backupId !== null) {
      const how =
        exit === undefined
          ? 'killed by the runner'
          : `exit ${exit.code ?? exit.signal}, stderr: ${exit.stderr.trim().slice(-400)}`;
      violations.push(
        `backup ${backupId} ${reason ?? 'not classified'} after the run and recovery (process: ${how})`,
      );
    }
    // No catalog entry at all: the backup stopped before creating one (a refusal in preflight). Its error is
    // the only record of why, so it becomes the reason.
    if (outcome === 'none' && backupId === null && exit !== undefined && exit.code !== 0)
      reason = `no entry; exit ${exit.code ?? exit.signal}: ${lastLine(exit.stderr)}`;
    if (!faultSpec(spec.fault).allowedOutcomes.includes(outcome)) {
      violations.push(`fault ${spec.fault} must not end as ${outcome}${reason ? ` (${reason})` : ''}`);
    }

    load.abort();
    const reports = await Promise.all(workloads);
    const acked = reports.flatMap((r) => r.acknowledged);
    acknowledged = acked.length;
    longestPausedMs = monitor.longestPausedMs();
    clientStallMs = {
      p99: Math.max(0, ...reports.map((r) => r.pauseStallMs.p99)),
      max: Math.max(0, ...reports.map((r) => r.pauseStallMs.max)),
    };
    const live = await checkGroup(databases.group, {
      invariants: [bankInvariants],
      acknowledged: acked,
      signal: spec.signal,
    });
    for (const v of live.violations.slice(0, 5)) violations.push(`live: ${v.kind}: ${v.detail}`);
    if (coordinatorAtStart !== undefined) {
      const end = await coordinatorRowsLeft(databases);
      // Every transfer wrote one row: a row count that grew by as many means cleanup never ran (nothing proved).
      const made = end.transfers - coordinatorAtStart.transfers;
      const deleted = coordinatorAtStart.rows + made - end.rows;
      faultDetail = `${faultDetail ?? ''}; cleanup deleted ${deleted} Coordinator rows during ${made} transfers`;
      if (deleted <= 0)
        violations.push(`coordinator-cleanup: no Coordinator row was cleaned up during ${made} transfers`);
    }
    phases.mark('live-check');

    if (outcome === 'complete' && backupId !== null) {
      const restores = await checkRestores({
        plan,
        backupId,
        fault: spec.fault,
        dir: spec.dir,
        servers: spec.servers,
        random: spec.random,
        signal: spec.signal,
        ...(encrypted === undefined ? {} : { encrypted }),
      });
      if (restores.faultDetail !== undefined) faultDetail = restores.faultDetail;
      violations.push(...restores.violations);
      restoreChecked = true;
      phases.mark('restore+check');
    }
  } catch (error) {
    harnessError = asStillpointError(error).message;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    phases.mark('cleanup');
  }
  return {
    index: spec.index,
    trialSeed: spec.random.seed,
    group: spec.group,
    mode: spec.mode,
    discovery,
    fault: spec.fault,
    moment: spec.moment,
    faultApplied,
    faultDetail,
    backupId,
    outcome,
    attempts,
    reason,
    restoreChecked,
    acknowledged,
    longestPausedMs,
    whilePaused: spec.sizes.whilePaused ?? 'reject',
    clientStallMs,
    violations,
    harnessError,
    durationMs: Date.now() - started,
    phasesMs: phases.snapshot(),
  };
}

/**
 * The joiner enters the service: its admin endpoint is added to the SRV answer (so the orchestrator's
 * membership check can see it), then it takes transfers of its own. Returns how to stop its load.
 */
function joinService(
  node: TrialNode | undefined,
  dns: DnsServer | undefined,
  sizes: TrialSizes,
  workloads: Array<Promise<BankReport>>,
  signal: AbortSignal,
) {
  if (node === undefined)
    return Promise.reject(
      new InternalError('TRIAL_NO_JOINER', 'node-join needs the joiner started up front.'),
    );
  dns?.records.get(SRV_NAME)?.push({ target: node.proxy.host, port: node.proxy.port });
  const own = new AbortController();
  const onAbort = (): void => own.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const load = startLoad(sizes, [node.address], own.signal);
  workloads.push(load);
  return Promise.resolve(async () => {
    // Its acknowledged transfers still count (its report stays in `workloads`). Only its own load is awaited:
    // the trial's main load runs until after the heal. The node itself closes with the trial.
    own.abort();
    signal.removeEventListener('abort', onAbort);
    await load.catch(() => undefined);
  });
}

/** The last non-empty line of a process's stderr (its error), at most 300 characters. */
function lastLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return (lines.at(-1) ?? '').slice(0, 300);
}

function directTarget(node: TrialNode): Target {
  return { host: '127.0.0.1', port: node.port, label: node.address };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
