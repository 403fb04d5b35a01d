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
import type { MemberSpec, RestoreTarget } from '../../engines/contract.ts';
import { asStillpointError, ConfigError, InternalError } from '../../errors.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../local-servers/mariadb-server.ts';
import { startLocalPostgres } from '../local-servers/postgres-server.ts';
import { createPauseClient } from '../../pause/pause-client.ts';
import { FAULTS, faultsFor, type FaultKind, type GroupKind } from './faults.ts';
import { createTrialDatabases, type SharedServers } from './group.ts';
import { copyWithoutPause } from './negative-control.ts';
import { createRandom, randomSeed, type Random } from './random.ts';
import type { NegativeControlResult, TrialResult, TrialsReport } from './report.ts';
import { DEFAULT_SIZES, runTrial, seedBank, startLoad, startNodes, type TrialSizes } from './trial.ts';

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
  /** Called after each trial (progress). */
  readonly onTrial?: (result: TrialResult) => void;
  readonly signal?: AbortSignal;
}

const MODES = ['snapshot', 'pause-window'] as const;

/** Runs the trials and the negative control; never throws for a failed trial (see the report). */
export async function runTrials(options: RunTrialsOptions = {}): Promise<TrialsReport> {
  const seed = options.seed ?? randomSeed();
  const root = createRandom(seed);
  const groups = options.groups ?? ['sqlite'];
  const sizes: TrialSizes = { ...DEFAULT_SIZES, ...options.sizes };
  const signal = options.signal ?? new AbortController().signal;
  const startedAt = new Date();
  const base = await mkdtemp(join(tmpdir(), 'stillpoint-trials-'));
  // Short deadlines: the monitor polls every few ms and must not hang on a blackholed or dead node.
  const pauseClient = createPauseClient({ callDeadlineMs: 1_000 });
  let servers: RunServers | undefined;
  const trials: TrialResult[] = [];
  let negativeControl: NegativeControlResult | null = null;
  try {
    if (groups.includes('postgres+mariadb')) servers = await startServers();
    const schedule = scheduleFaults(root, groups, options.faults);
    const count = options.trials ?? 10;
    for (let index = 0; index < count && !signal.aborted; index += 1) {
      const random = root.fork(index);
      const { group, fault } = schedule[index % schedule.length] ?? { group: 'sqlite', fault: 'none' };
      const spec = FAULTS.find((f) => f.kind === fault);
      const dir = await mkdtemp(join(base, `t${index}-`));
      // Drawn from its own fork, so adding the choice left every other choice of a seed as it was.
      const whilePaused =
        options.whilePaused === 'both'
          ? root.fork(2_000_000 + index).pick(['reject', 'hold'] as const)
          : (options.whilePaused ?? 'reject');
      const result = await runTrial({
        index,
        random,
        group,
        mode: random.pick(MODES),
        fault,
        moment: random.pick(spec?.moments ?? ['during-pause']),
        dir,
        servers,
        sizes: { ...sizes, whilePaused },
        pauseClient,
        memberOptions,
        restoreTarget: (member, into) => restoreTarget(member, into, random, servers?.mariadbRestore),
        signal,
      });
      trials.push(result);
      options.onTrial?.(result);
      await rm(dir, { recursive: true, force: true });
    }
    if (options.negativeControl ?? true) {
      negativeControl = await runNegativeControl(
        root.fork(1_000_000),
        groups[0] ?? 'sqlite',
        base,
        servers,
        sizes,
        options.negativeControlAttempts ?? 5,
        signal,
      );
    }
  } finally {
    pauseClient.close();
    await servers?.postgres.destroy().catch(() => undefined);
    await servers?.mariadb.destroy().catch(() => undefined);
    await servers?.mariadbRestore.destroy().catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
  return {
    seed,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    trials,
    negativeControl,
  };
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

function memberOptions(engine: string): Record<string, unknown> {
  return engine === 'postgres' ? { method: 'logical' } : {};
}

/**
 * A fresh place for a restored member: a new file for SQLite, a new database for PostgreSQL, new databases
 * (`<db>_r_<suffix>`) for MariaDB. Each in the target format its engine's restore session parses.
 */
export function restoreTarget(
  member: MemberSpec,
  into: string,
  random: Random,
  mysqlServer?: { host: string; port: number },
): RestoreTarget {
  const suffix = `${member.name}_r${random.int(0, 1e9).toString(36)}`;
  if (member.connection.kind === 'sqlite') return { path: join(into, `${suffix}.db`) };
  if (member.connection.kind === 'postgres') return { database: suffix };
  // A MySQL namespace is a database: restored under its own name (so the group can be checked), on a
  // server of its own (the live one still holds it); the restore drops what an earlier trial left there.
  if (mysqlServer === undefined) {
    throw new InternalError(
      'TRIAL_NO_RESTORE_SERVER',
      `member ${member.name} needs a MariaDB server to restore into.`,
    );
  }
  return { host: mysqlServer.host, port: mysqlServer.port, inPlace: true };
}

/** The shared servers, and a second MariaDB server that restores go to. */
type RunServers = SharedServers & { readonly mariadbRestore: LocalMariaDb };

async function startServers(): Promise<RunServers> {
  const started: Array<{ destroy(): Promise<void> }> = [];
  try {
    const postgres = await startLocalPostgres();
    started.push(postgres);
    const mariadb = await startLocalMariaDb();
    started.push(mariadb);
    const mariadbRestore = await startLocalMariaDb();
    return { postgres, mariadb, mariadbRestore };
  } catch (error) {
    for (const server of started) await server.destroy().catch(() => undefined);
    throw error;
  }
}

/** Copies a loaded group without pausing, up to `attempts` times, until the checker finds a torn copy. */
async function runNegativeControl(
  random: Random,
  group: GroupKind,
  base: string,
  servers: RunServers | undefined,
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
    const databases = await createTrialDatabases(group, dir, 999_999, servers, memberOptions);
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
          restoreTarget: (m) => restoreTarget(m, join(dir, `copy-${made}`), random, servers?.mariadbRestore),
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
    await rm(dir, { recursive: true, force: true });
  }
}
