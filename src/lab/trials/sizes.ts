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
  /** A backup (or its recovery) that takes longer is a violation: it hung. */
  readonly backupTimeoutMs: number;
  /** The nodes' gate while paused: `reject` (ScalarDB Server; clients retry) or `hold` (ScalarDL). Default reject. */
  readonly whilePaused?: 'reject' | 'hold';
  /** Trials one group and its nodes serve before a fresh one is built (./group-pool.ts); 1: never reused. */
  readonly groupReuse: number;
  /** The nodes' periodic Coordinator cleanup (set by the `coordinator-cleanup` fault); absent: none. */
  readonly coordinatorCleanup?: CoordinatorCleanupSettings;
}
