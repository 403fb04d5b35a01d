/** How big and how patient a trial is (its own module: the group kinds and the trial both read it). */
import type { CoordinatorCleanupSettings } from '../../node/coordinator-cleanup.ts';
/** Sizes of a trial; defaults keep one SQLite trial around 10–20 s on two cores. */
export interface TrialSizes {
  readonly nodes: number;
  readonly accounts: number;
  readonly concurrency: number;
  /** Lease of the pause, ms: nodes whose orchestrator died unpause by themselves after this. */
  readonly leaseMs: number;
  /** Lazy-recovery expiry of the nodes, ms (short, so a killed node's prepared records clear fast). */
  readonly expiryMs: number;
  /** Load before the backup starts, ms. */
  readonly warmupMs: number;
  /** The plan's capture bound (`window.captureTimeoutMs`): a capture that takes longer fails its attempt. */
  readonly captureTimeoutMs: number;
  /** A backup (or its recovery) that takes longer is a violation: it hung. */
  readonly backupTimeoutMs: number;
  /** The nodes' gate while paused: `reject` (ScalarDB Server; clients retry) or `hold` (ScalarDL). Default reject. */
  readonly whilePaused?: 'reject' | 'hold';
  /** Trials one group and its nodes serve before a fresh one is built (./group-pool.ts); 1: never reused. */
  readonly groupReuse: number;
  /** The nodes' periodic Coordinator cleanup (set by the `coordinator-cleanup` fault); absent: none. */
  readonly coordinatorCleanup?: CoordinatorCleanupSettings;
}

/**
 * The `coordinator-cleanup` fault's nodes: a round every 100 ms over rows decided ≥ 1 s ago, so rows are deleted
 * throughout the backup (a trial's transfers take milliseconds; 1 s keeps cleanup clear of a commit in flight).
 */
export const TRIAL_CLEANUP: CoordinatorCleanupSettings = {
  intervalMs: 100,
  olderThanMs: 1_000,
  limit: 1_000,
};

/** A trial's sizes unless a group or the campaign sets its own (./groups, `stillpoint trials`). */
export const DEFAULT_SIZES: TrialSizes = {
  nodes: 3,
  accounts: 20,
  concurrency: 4,
  leaseMs: 3_000,
  expiryMs: 2_000,
  warmupMs: 400,
  // A capture behind a dropped database path fails its attempt after 10 s, not the plan default 30 s (the
  // database-path-drop trials of the issue-18 campaign spent 35 s each in the backup, nodes paused).
  captureTimeoutMs: 10_000,
  backupTimeoutMs: 120_000,
  groupReuse: 10,
};
