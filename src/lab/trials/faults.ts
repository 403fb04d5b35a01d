/**
 * The fault catalogue of the trials, as data: what can break, when it can break, in which groups it makes
 * sense, and what the backup is allowed to end as. The runner (./runner.ts) picks one fault per trial with
 * the seeded random source and applies it at a chosen moment of the backup, which it reads from the
 * backup process's NDJSON events (`stillpoint backup --plan … --json`).
 *
 * Whatever the fault, the invariants checked after every trial are the same (see ./trial.ts): every node
 * ends unpaused within the lease, every `complete` backup restores and passes the checker, and every
 * transfer the workload saw acknowledged is present in the live databases.
 */

import { InternalError } from '../../errors.ts';

/** When a fault is applied, relative to the backup's progress (from its NDJSON events). */
export type FaultMoment =
  /** After the backup started, before any Pause was sent (preflight / prepare). */
  | 'before-pause'
  /** After every target answered Pause, before Unpause (the window; capture happens here). */
  | 'during-pause'
  /** After Unpause started (finish: copying, checksums; horizon waits). */
  | 'after-pause';

/** Which group the trial builds. */
/** The trial groups by name (the CLI's `--groups`); their providers are ./groups/index.ts, loaded when trials run. */
export const GROUP_KINDS = [
  'sqlite',
  'postgres+mariadb',
  'dynamodb+postgres',
  'managed',
  'cosmos+sqlite',
  'cassandra',
] as const;
export type GroupKind = (typeof GROUP_KINDS)[number];

/** A backup's final state in the catalog, or `none` when no entry was written. */
export type BackupOutcome = 'complete' | 'invalid' | 'failed' | 'none';

export type FaultKind =
  | 'none'
  | 'orchestrator-kill'
  | 'orchestrator-kill-other-host'
  | 'node-kill'
  | 'node-restart'
  | 'node-join'
  | 'database-stop'
  | 'database-restart'
  | 'node-path-slow'
  | 'node-path-drop'
  | 'database-path-slow'
  | 'database-path-drop'
  | 'admin-error'
  | 'admin-silent'
  | 'clock-offset'
  | 'restore-target-non-empty'
  | 'artifacts-unusable'
  | 'service-clock-skew'
  | 'artifacts-lost-midway'
  | 'restore-kill'
  | 'artifact-store-unreachable'
  | 'artifact-store-slow'
  | 'artifact-store-fails-midway'
  | 'encryption-key-missing'
  | 'catalog-kill-midwrite'
  | 'coordinator-cleanup';

export interface FaultSpec {
  readonly kind: FaultKind;
  readonly description: string;
  /** Moments at which this fault may be applied; the runner picks one at random. */
  readonly moments: readonly FaultMoment[];
  /** Groups this fault applies to (e.g. no database server to stop in an SQLite group). */
  readonly groups: readonly GroupKind[];
  /**
   * Outcomes the backup may end with. Anything else is a violation. `complete` is only ever accepted if
   * the restore passes the checker; that check is separate and always made.
   */
  readonly allowedOutcomes: readonly BackupOutcome[];
}

const ANY: readonly BackupOutcome[] = ['complete', 'invalid', 'failed', 'none'];
/** A target that never acknowledged its Pause: the backup must not be `complete`. */
const NEVER_PAUSED: readonly BackupOutcome[] = ['failed', 'invalid'];
const ALL: readonly GroupKind[] = [
  'sqlite',
  'postgres+mariadb',
  'dynamodb+postgres',
  'managed',
  'cosmos+sqlite',
  'cassandra',
];
/** Groups with a database server the trial may stop and a proxied path to it. */
const SERVERS: readonly GroupKind[] = ['postgres+mariadb', 'dynamodb+postgres'];
/** Groups with time-handle databases behind a service clock (their fakes' skew setters). */
const SERVICE_CLOCKS: readonly GroupKind[] = ['dynamodb+postgres', 'managed', 'cosmos+sqlite'];
/**
 * Groups added after the first campaigns. A fault added later applies to them only, so that a seed of the
 * older groups keeps drawing the same scenarios (widen it once TRIALS.md is regenerated).
 */
const LATER_GROUPS: readonly GroupKind[] = ['dynamodb+postgres', 'managed', 'cosmos+sqlite'];
/** Faults whose check needs file targets (the SQLite group: a restore target is a path). */
const FILES: readonly GroupKind[] = ['sqlite'];

/** Every fault the runner knows. `none` is the control: the backup must be `complete`. */
export const FAULTS: readonly FaultSpec[] = [
  {
    kind: 'none',
    description: 'no fault: the backup must complete and restore consistently',
    moments: ['during-pause'],
    groups: ALL,
    allowedOutcomes: ['complete'],
  },
  {
    kind: 'orchestrator-kill',
    description: 'SIGKILL of the backup process; a rerun must finish the unpause and classify the backup',
    moments: ['before-pause', 'during-pause', 'after-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'orchestrator-kill-other-host',
    description:
      'SIGKILL of the backup process; `stillpoint backups recover` run on "another host" (its own UTS namespace ' +
      'and hostname, a new owner id) once the heartbeat is stale must unpause and classify it',
    moments: ['before-pause', 'during-pause', 'after-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'node-kill',
    description: 'SIGKILL of one node (it stays down until the backup ends, then is restarted)',
    moments: ['during-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'node-restart',
    description: 'one node killed and started again at once: it comes back unpaused inside the window',
    moments: ['during-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'node-join',
    description:
      'a node started outside the service joins it during the window (SRV answer) and takes transfers',
    moments: ['during-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'database-stop',
    description: 'one database server stopped (immediate) during capture or finish, started again after',
    moments: ['during-pause', 'after-pause'],
    // A Cassandra node (one of three) lost or restarted: the engine's ring check must catch it.
    groups: [...SERVERS, 'cassandra'],
    allowedOutcomes: ANY,
  },
  {
    kind: 'database-restart',
    description:
      'one database server restarted (stopped and started at once) under the running nodes: every node must stay up',
    moments: ['before-pause', 'during-pause', 'after-pause'],
    // A Cassandra node (one of three) lost or restarted: the engine's ring check must catch it.
    groups: [...SERVERS, 'cassandra'],
    allowedOutcomes: ANY,
  },
  {
    kind: 'node-path-slow',
    description: 'the network path to one node admin port delays every chunk (TCP proxy, delay)',
    moments: ['before-pause', 'during-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'node-path-drop',
    description: 'the network path to one node admin port goes silent (TCP proxy, blackhole)',
    moments: ['before-pause', 'during-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'database-path-slow',
    description: "the backup's network path to one database delays every chunk (TCP proxy, delay)",
    moments: ['before-pause', 'during-pause', 'after-pause'],
    groups: SERVERS,
    allowedOutcomes: ANY,
  },
  {
    kind: 'database-path-drop',
    description: "the backup's network path to one database goes silent (TCP proxy, blackhole)",
    moments: ['during-pause', 'after-pause'],
    groups: SERVERS,
    allowedOutcomes: ANY,
  },
  {
    kind: 'admin-error',
    description:
      'one admin endpoint answers Pause with a gRPC error, with or without having closed its gate first ' +
      '(a faulty endpoint in front of the node; Unpause and CheckPaused still reach it)',
    moments: ['before-pause'],
    groups: ALL,
    allowedOutcomes: NEVER_PAUSED,
  },
  {
    kind: 'admin-silent',
    description:
      'one admin endpoint accepts Pause and never answers, with or without having closed its gate first',
    moments: ['before-pause'],
    groups: ALL,
    allowedOutcomes: NEVER_PAUSED,
  },
  {
    kind: 'clock-offset',
    description: "one node's or the orchestrator's wall clock runs 3–15 s ahead or behind, from its start",
    moments: ['before-pause'],
    groups: ALL,
    allowedOutcomes: ['complete'],
  },
  {
    kind: 'restore-target-non-empty',
    description:
      'after the backup, a restore into targets one of which already holds a file: it must be refused before ' +
      'anything is written (no other member restored, the occupied file untouched)',
    moments: ['during-pause'],
    groups: FILES,
    allowedOutcomes: ['complete'],
  },
  {
    kind: 'artifacts-unusable',
    description:
      'the artifact store directory replaced by a file before the pause: the backup fails, nothing left paused',
    moments: ['before-pause'],
    groups: FILES,
    allowedOutcomes: ['failed'],
  },
  {
    kind: 'service-clock-skew',
    description:
      "the time-handle databases' service clock (their control plane's Date header and restore times) runs " +
      '0.5–5 s ahead or behind from the start, through the restore: consistent or invalid, never torn',
    moments: ['before-pause'],
    groups: SERVICE_CLOCKS,
    allowedOutcomes: ['complete', 'invalid'],
  },
  {
    kind: 'artifacts-lost-midway',
    description:
      'the artifact store directory moved away (a file in its place) during the window or the finish, put ' +
      'back after the backup ended: a backup that completes must still restore and pass the checker',
    moments: ['during-pause', 'after-pause'],
    groups: LATER_GROUPS,
    allowedOutcomes: ['complete', 'failed', 'invalid'],
  },
  {
    kind: 'restore-kill',
    description:
      'after the backup, `stillpoint restore` SIGKILLed after its k-th progress event, then run again: it ' +
      'must resume to a restored group that passes the checker (then the usual restore check runs too)',
    moments: ['during-pause'],
    groups: LATER_GROUPS,
    // The restore part applies to a complete backup; a backup that could not pause on a busy machine is
    // judged as any other (never torn), and has nothing to restore.
    allowedOutcomes: ['complete', 'failed', 'invalid'],
  },
  {
    kind: 'artifact-store-unreachable',
    description:
      "the trial's artifacts go to S3 (s3rver) or Azure Blob (Azurite), drawn, and every connection to the " +
      'store is reset from before the backup: it must not complete, and nothing may stay paused',
    moments: ['before-pause'],
    groups: ALL,
    allowedOutcomes: ['failed', 'invalid', 'none'],
  },
  {
    kind: 'artifact-store-slow',
    description:
      'artifacts in S3 or Azure Blob; the path to the store delays every chunk 100–800 ms for 3–10 s, during ' +
      'the window or the finish (uploads included)',
    moments: ['during-pause', 'after-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'artifact-store-fails-midway',
    description:
      'artifacts in S3 or Azure Blob; from the window or the finish on, every connection to the store is ' +
      'reset (uploads in flight fail part-way) until the backup ended: a backup that completes must restore',
    moments: ['during-pause', 'after-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'encryption-key-missing',
    description:
      'artifacts encrypted (encryption=local, a key file); after the backup the key file is moved away: the ' +
      'restore must fail with ENCRYPTION_KEY_MISSING before writing any target, then succeed with the key back',
    moments: ['during-pause'],
    groups: FILES,
    allowedOutcomes: ['complete'],
  },
  {
    kind: 'catalog-kill-midwrite',
    description:
      'SIGKILL of the backup process at the first write to its catalog (SQLite WAL) seen after the moment: ' +
      'the catalog must stay readable (integrity check) and recovery must classify the backup',
    moments: ['before-pause', 'during-pause', 'after-pause'],
    groups: ALL,
    allowedOutcomes: ANY,
  },
  {
    kind: 'coordinator-cleanup',
    description:
      'every node runs Coordinator cleanup (finishTransaction of decided rows ≥ 1 s old) every 100 ms, from its ' +
      'start through every moment of the backup, behind its gate like a transfer: the backup must complete and ' +
      'restore consistent, and cleanup must have deleted rows',
    moments: ['before-pause'],
    groups: ALL,
    allowedOutcomes: ['complete'],
  },
];

/** The catalogue entry for a kind. */
export function faultSpec(kind: FaultKind): FaultSpec {
  const spec = FAULTS.find((f) => f.kind === kind);
  // The union type makes this unreachable unless FAULTS misses a kind; keep the message explicit.
  if (spec === undefined) {
    throw new InternalError('FAULT_UNKNOWN', `fault kind "${kind}" is not in the catalogue.`, {
      context: { kind },
    });
  }
  return spec;
}

/** Faults that can run in a group. */
export function faultsFor(group: GroupKind, only?: readonly FaultKind[]): FaultSpec[] {
  return FAULTS.filter((f) => f.groups.includes(group) && (only === undefined || only.includes(f.kind)));
}

/** Every fault kind, for CLI validation. */
export const FAULT_KINDS: readonly FaultKind[] = FAULTS.map((f) => f.kind);
