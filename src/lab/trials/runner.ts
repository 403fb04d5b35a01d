/**
 * The trial runner: many backups under load, each with one fault at a random moment, each judged by the
 * same invariants (./trial.ts), plus a negative control that copies the group WITHOUT a pause and must be
 * caught by the checker — otherwise the run reports that it is not testing anything.
 *
 * Choices (group, mode, fault, moment, window length, which node or database) come from one seeded random
 * source: `runTrials({ seed })` makes the same choices again. Timing under load is not reproducible, so a
 * replay exercises the same scenario, not the same interleaving.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asStillpointError, ConfigError } from '../../errors.ts';
import { createPauseClient } from '../../pause/pause-client.ts';
import { FAULTS, faultsFor, type FaultKind, type GroupKind } from './faults.ts';
import type { TrialGroupServers } from './group.ts';
import { TRIAL_GROUPS } from './groups/index.ts';
import { pinCompiledBuild } from './cli-entry.ts';
import type { ArtifactStores } from './artifact-stores.ts';
import { GroupPool } from './group-pool.ts';
import { BackupSpares } from './spare-backup.ts';
import { copyWithoutPause } from './negative-control.ts';
import { createRandom, randomSeed, type Random } from './random.ts';
import type { NegativeControlResult, TrialResult, TrialsReport } from './report.ts';
import { seedBank, startLoad, startNodes } from './group-setup.ts';
import { DEFAULT_SIZES, type TrialSizes } from './sizes.ts';
import { runTrial, type TrialSpec } from './trial.ts';
import { openJournal } from './journal.ts';

export interface RunTrialsOptions {
  /** Number of trials (default 10). */
  readonly trials?: number;
  /** Seed of every random choice (default: a fresh one, reported). */
  readonly seed?: number;
  /** Groups to draw from (default `['sqlite']`). */
  readonly groups?: readonly GroupKind[];
  /** Faults to draw from (default: every applicable one). */
  readonly faults?: readonly FaultKind[];
  /** Run the negative control (default true). */
  readonly negativeControl?: boolean;
  /** Copies the negative control may make before giving up on finding a torn one (default 5). */
  readonly negativeControlAttempts?: number;
  readonly sizes?: Partial<TrialSizes>;
  /**
   * What the nodes' gate does with new work while paused: `reject` (ScalarDB Server, the default), `hold`
   * (ScalarDL), or `both` (each trial draws one).
   */
  readonly whilePaused?: 'reject' | 'hold' | 'both';
  /**
   * Journal file (./journal.ts): each trial's result is appended as one JSON line; a run with a journal that
   * already holds trials 0…N-1 of the same campaign continues at trial N, and the report covers them all.
   */
  readonly journal?: string;
  /** Called after each trial (progress). */
  readonly onTrial?: (result: TrialResult) => void;
  readonly signal?: AbortSignal;
  /** Runs one trial (default {@link runTrial}; tests replace it to check the schedule without servers). */
  readonly runTrial?: (spec: TrialSpec) => Promise<TrialResult>;
}

/** Runs the trials and the negative control; never throws for a failed trial (see the report). */
export async function runTrials(options: RunTrialsOptions = {}): Promise<TrialsReport> {
  const groups = options.groups ?? ['sqlite'];
  const journal =
    options.journal === undefined
      ? undefined
      : openJournal(
          options.journal,
          {
            seed: options.seed,
            groups,
            faults: options.faults ?? null,
            whilePaused: options.whilePaused ?? 'reject',
          },
          randomSeed,
        );
  const seed = journal?.identity.seed ?? options.seed ?? randomSeed();
  const root = createRandom(seed);
  const runOne = options.runTrial ?? runTrial;
  const sizes: TrialSizes = { ...DEFAULT_SIZES, ...options.sizes };
  const signal = options.signal ?? new AbortController().signal;
  const startedAt = new Date();
  // Trial time of the earlier runs of a journaled campaign (this run's own time is measured below).
  const earlierMs = journal?.trials.reduce((sum, t) => sum + t.durationMs, 0) ?? 0;
  const base = await mkdtemp(join(tmpdir(), 'stillpoint-trials-'));
  // Short deadlines: the monitor polls every few ms and must not hang on a blackholed or dead node.
  const pauseClient = createPauseClient({ callDeadlineMs: 1_000 });
  // Each group kind's shared servers/fakes, started once (in the order of `groups`) and stopped at the end.
  const started = new Map<GroupKind, TrialGroupServers>();
  const serversFor = async (group: GroupKind): Promise<TrialGroupServers> => {
    let servers = started.get(group);
    if (servers === undefined) {
      servers = await TRIAL_GROUPS[group].start();
      started.set(group, servers);
    }
    return servers;
  };
  const pool = new GroupPool(base, sizes.groupReuse);
  const restartServers = async (group: GroupKind): Promise<void> => {
    await pool.discard(group);
    await started
      .get(group)
      ?.stop()
      .catch(() => undefined);
    started.delete(group);
  };
  const spares = new BackupSpares(base);
  // S3 and Azure Blob servers, started when the first trial that breaks a remote store comes.
  let stores: Promise<ArtifactStores> | undefined;
  // A start that failed is tried again by the next trial that needs the stores (its own is a harness error).
  const artifactStores = (): Promise<ArtifactStores> =>
    (stores ??= import('./artifact-stores.ts')
      .then((m) => m.startArtifactStores())
      .catch((error: unknown) => {
        stores = undefined;
        throw error;
      }));
  const trials: TrialResult[] = [...(journal?.trials ?? [])];
  const negativeControls: NegativeControlResult[] = [...(journal?.controls ?? [])];
  try {
    if (options.runTrial === undefined) await pinCompiledBuild();
    for (const group of groups) await serversFor(group);
    const schedule = scheduleFaults(root, groups, options.faults);
    const count = options.trials ?? 10;
    if (trials.length < count) void spares.refill();
    for (let index = trials.length; index < count && !signal.aborted; index += 1) {
      const random = root.fork(index);
      const { group, fault } = schedule[index % schedule.length] ?? { group: 'sqlite', fault: 'none' };
      const spec = FAULTS.find((f) => f.kind === fault);
      const dir = await mkdtemp(join(base, `t${index}-`));
      // Drawn from its own fork, so adding the choice left every other choice of a seed as it was.
      const whilePaused =
        options.whilePaused === 'both'
          ? root.fork(2_000_000 + index).pick(['reject', 'hold'] as const)
          : (options.whilePaused ?? 'reject');
      const servers = await serversFor(group);
      const result = await runOne({
        index,
        random,
        group,
        mode: random.pick(TRIAL_GROUPS[group].modes),
        fault,
        moment: random.pick(spec?.moments ?? ['during-pause']),
        dir,
        servers,
        pool,
        spares,
        artifactStores,
        sizes: { ...sizesFor(group, options.sizes), whilePaused },
        pauseClient,
        signal,
      });
      await servers.releaseRestored?.().catch(() => undefined);
      // Stopped mid-trial (Ctrl-C): the trial proves nothing and is not journaled; a continued campaign runs it.
      // Whatever it reports: an abort that reaches the restore check reads as a violation ("restore failed"),
      // one that reaches the harness as a harness error.
      if (signal.aborted) {
        await rm(dir, { recursive: true, force: true });
        break;
      }
      trials.push(result);
      journal?.appendTrial(result);
      options.onTrial?.(result);
      await rm(dir, { recursive: true, force: true });
      // A harness error may have left the shared servers broken (a Cassandra schema that never agreed broke
      // every later trial of a campaign): the next trial of this kind gets them started afresh.
      if (result.harnessError !== null) await restartServers(group);
    }
    // The controls build groups of their own (a kind may hold fixed names on its servers): none may be kept.
    await pool.close();
    // Once every trial ran (a journaled campaign: once, by the run that finishes it).
    if ((options.negativeControl ?? true) && trials.length >= count) {
      // One per group: each engine must show that the checker catches its tearing. The first group's draws
      // come from the same fork as when there was a single control.
      for (const [i, group] of groups.entries()) {
        if (signal.aborted) break;
        if (negativeControls.some((nc) => nc.group === group)) continue;
        const control = await runNegativeControl(
          root.fork(1_000_000 + i),
          base,
          await serversFor(group),
          sizes,
          options.negativeControlAttempts ?? 5,
          signal,
        );
        negativeControls.push({ group, ...control });
        journal?.appendControl({ group, ...control });
      }
    }
  } finally {
    pauseClient.close();
    await spares.close();
    await pool.close();
    if (stores !== undefined) await (await stores.catch(() => undefined))?.stop();
    for (const servers of started.values()) await servers.stop().catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
  return {
    seed,
    startedAt: journal?.startedAt ?? startedAt.toISOString(),
    durationMs: earlierMs + Date.now() - startedAt.getTime(),
    trials,
    negativeControl: negativeControls[0] ?? null,
    negativeControls,
  };
}

/** A trial's sizes: the defaults, then its group's own (a real cluster's slower backup), then the caller's. */
export function sizesFor(group: GroupKind, explicit: Partial<TrialSizes> = {}): TrialSizes {
  return { ...DEFAULT_SIZES, ...TRIAL_GROUPS[group].sizes, ...explicit };
}

/**
 * The order in which (group, fault) pairs are tried: every applicable pair, shuffled by the seed, so a run
 * of at least that many trials covers every fault, and a shorter run a random subset.
 */
export function scheduleFaults(
  random: Random,
  groups: readonly GroupKind[],
  only?: readonly FaultKind[],
): Array<{ group: GroupKind; fault: FaultKind }> {
  const pairs = groups.flatMap((group) => faultsFor(group, only).map((f) => ({ group, fault: f.kind })));
  if (pairs.length === 0) {
    throw new ConfigError('TRIALS_NO_FAULTS', 'No fault of the selection applies to the chosen groups.', {
      hint: 'Widen --faults or --groups (database faults need the postgres+mariadb group).',
    });
  }
  for (let i = pairs.length - 1; i > 0; i -= 1) {
    const j = random.int(0, i);
    [pairs[i], pairs[j]] = [pairs[j]!, pairs[i]!];
  }
  return pairs;
}

export { restoreTarget } from './groups/targets.ts';

/** Copies a loaded group without pausing, up to `attempts` times, until the checker finds a torn copy. */
async function runNegativeControl(
  random: Random,
  base: string,
  servers: TrialGroupServers,
  sizes: TrialSizes,
  attempts: number,
  signal: AbortSignal,
): Promise<NegativeControlResult> {
  const dir = await mkdtemp(join(base, 'negative-control-'));
  const cleanups: Array<() => Promise<void>> = [];
  let made = 0;
  let torn = 0;
  const seen: string[] = [];
  try {
    const databases = await servers.create(dir, 999_999);
    cleanups.push(() => databases.close());
    await seedBank(databases, sizes.accounts);
    const nodes = await startNodes(dir, databases, sizes, cleanups);
    const load = new AbortController();
    const workload = startLoad(
      sizes,
      nodes.map((n) => n.address),
      load.signal,
    );
    cleanups.push(async () => {
      load.abort();
      await workload;
    });
    await sleep(sizes.warmupMs);
    while (made < attempts && torn === 0 && !signal.aborted) {
      made += 1;
      const result = await copyWithoutPause(
        {
          members: databases.members,
          dir,
          random,
          signal,
          restoreTarget: (m) => servers.restoreTarget(m, join(dir, `copy-${made}`), random),
        },
        made,
      );
      if (result.torn) {
        torn += 1;
        seen.push(...result.violations.slice(0, 2));
      }
    }
    return {
      ran: true,
      attempts: made,
      tornCopies: torn,
      detail: torn > 0 ? seen.join('; ') : 'no torn copy found',
    };
  } catch (error) {
    return { ran: false, attempts: made, tornCopies: torn, detail: asStillpointError(error).message };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await servers.releaseRestored?.().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
