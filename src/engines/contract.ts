/**
 * Backup engines: the contract of this folder. One engine per database kind, each in its own folder with
 * the same file set (`<kind>/<kind>-engine.ts`, `<kind>/<kind>-options.ts`, …).
 *
 * The orchestrator plans from {@link EngineCapabilities} (data), never from the engine's name. A backup of
 * one member goes through these phases:
 *
 *   preflight (no pause yet; checks credentials, tools, archiving) → prepare (no pause; e.g. a base backup)
 *   → [pause] → capture (inside the pause: milliseconds, independent of data size) → [unpause]
 *   → finish (stream, compress, checksum into the artifact store) → horizon (wait until restorable)
 *
 * and a restore: planRestore (dry run, printed) → restore (destructive, after checksums verified) → the
 * orchestrator runs the recovery sweep and the checker on the restored group.
 *
 * Fit of engines outside this repo (the contract is written so they need no change):
 * - DynamoDB: handle `time` (PITR; DB clock offset measured), `restoreIntoNewName`, settings re-applied in
 *   restore steps; horizon = now − 5 min past the restore time.
 * - Cosmos DB: handle `time`, restore creates a new account; a restore step sets consistency STRONG.
 * - Cassandra: `snapshot` captured on every node (capture fans out; one artifact per node).
 */
import type { ArtifactRef, ArtifactStore } from '../artifacts/contract.ts';
import type { StorageConfig } from '../txn/contract.ts';

// ---------------------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------------------

/** What a captured restore point is. Ordered by preference: a log position needs no clock. */
export type HandleKind = 'snapshot' | 'named-point' | 'log-position' | 'time';

export interface EngineCapabilities {
  /** Handle kinds this engine can produce, in its order of preference. */
  readonly handleKinds: readonly HandleKind[];
  /**
   * One capture is an atomic cut of every table in the member (a transactional database). A group whose
   * only member has this needs no pause at all (mode `single`).
   */
  readonly atomicCapture: boolean;
  /** Capture is a snapshot the engine copies after unpause (the pause need not outlast capture). */
  readonly snapshotInsidePause: boolean;
  /** A time handle is read in the database's clock; the window must cover the measured clock offset. */
  readonly clockBased: boolean;
  /** Restores only into a new name (DynamoDB table alias, Cosmos DB account). */
  readonly restoreIntoNewNameOnly: boolean;
  /** The handle becomes restorable only later (WAL/binlog archived, PITR lag); `horizon` waits for it. */
  readonly horizonWait: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Handles and contexts
// ---------------------------------------------------------------------------------------------------------

/** A member's restore point, as stored in the catalog (JSON). */
export type RestoreHandle =
  | { readonly kind: 'snapshot'; readonly snapshotId: string; readonly detail?: Readonly<Record<string, unknown>> }
  | { readonly kind: 'named-point'; readonly name: string; readonly lsn: string; readonly timeline?: number }
  | {
      readonly kind: 'log-position';
      readonly file: string;
      readonly position: number;
      readonly gtid?: string;
    }
  | {
      readonly kind: 'time';
      /** Restore time in the DATABASE's clock (window mid-time + measured offset), epoch ms. */
      readonly atMs: number;
      readonly clockOffsetMs: number;
      readonly uncertaintyMs: number;
    };

/** Database clock minus our clock, measured with a round trip. */
export interface ClockSample {
  readonly offsetMs: number;
  /** Half the round trip plus the database clock's resolution. */
  readonly uncertaintyMs: number;
  readonly rttMs: number;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Member as configured in the plan. `options` is engine-specific and parsed by the engine. */
export interface MemberSpec {
  readonly name: string;
  readonly engine: string;
  readonly connection: StorageConfig;
  /** Transaction-layer namespaces held by this member (the Coordinator is `coordinator`). */
  readonly namespaces: readonly string[];
  readonly options: Readonly<Record<string, unknown>>;
}

export interface PhaseContext {
  readonly backupId: string;
  readonly member: MemberSpec;
  readonly artifacts: ArtifactStore;
  /** Artifact key prefix owned by this member in this backup: `<backupId>/<member>/`. */
  readonly artifactPrefix: string;
  /** Artifact key prefix shared by every backup of this member (base backups, WAL, binlogs): `shared/<member>/`. */
  readonly sharedPrefix: string;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

export interface PreflightCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to do when !ok. */
  readonly hint?: string;
}

/** A capture in progress: holds whatever must stay open until finish (an exported snapshot's transaction). */
export interface MemberCapture {
  /** The handle as known inside the pause (`time` handles are completed by the orchestrator's window). */
  readonly handle: RestoreHandle | null;
  /** Our clock, epoch ms, when capture completed. */
  readonly capturedAtMs: number;
  /** After unpause: copy out, checksum, return what the catalog must store. Releases held resources. */
  finish(ctx: PhaseContext, window: FinishWindow): Promise<FinishedMember>;
  /** Releases held resources without finishing (the backup failed). Idempotent, never throws. */
  release(): Promise<void>;
}

export interface FinishWindow {
  readonly pausedAtMs: number;
  readonly unpauseStartedAtMs: number;
  readonly midMs: number;
  /** Set for clock-based members: offset measured inside the pause. */
  readonly clock?: ClockSample;
}

export interface FinishedMember {
  readonly handle: RestoreHandle;
  /** Artifacts this backup needs, its own and shared ones (group-aware retention keeps shared ones alive). */
  readonly artifacts: readonly ArtifactRef[];
  readonly bytes: number;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Where to restore one member; engine-specific fields, validated by `parseRestoreTarget`. */
export type RestoreTarget = Readonly<Record<string, unknown>>;

export interface RestoreStep {
  readonly title: string;
  /** Exact command or SQL the step runs, secrets redacted. */
  readonly detail?: string;
  readonly destructive: boolean;
}

export interface MemberRecord {
  readonly backupId: string;
  readonly member: MemberSpec;
  readonly handle: RestoreHandle;
  readonly artifacts: readonly ArtifactRef[];
}

export interface RestoreContext {
  readonly record: MemberRecord;
  readonly target: RestoreTarget;
  readonly artifacts: ArtifactStore;
  readonly force: boolean;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

export interface RestoredMember {
  /** How to reach the restored database (the checker builds its storages from this). */
  readonly connection: StorageConfig;
  /**
   * Namespace → the name it was restored under, for namespaces restored renamed (a MariaDB namespace is a
   * database, restored as `<db>_r_<suffix>` by default). Absent or missing keys: the namespace kept its name.
   */
  readonly namespaces?: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------------------

export interface Engine {
  readonly kind: string;
  readonly capabilities: EngineCapabilities;
  /** Validates `member.options`; throws ConfigError naming the key and a fix. */
  validateOptions(member: MemberSpec): void;
  preflight(ctx: PhaseContext): Promise<readonly PreflightCheck[]>;
  /** Before any pause: make the member ready (e.g. a base backup covering the coming restore point). */
  prepare(ctx: PhaseContext): Promise<void>;
  /**
   * When the backup ends, whatever its outcome: drops what `prepare` left for it and no capture took (open
   * connections, which would otherwise keep the process alive). Must not throw.
   */
  discard?(ctx: PhaseContext): Promise<void>;
  /** Database clock minus ours (clock-based engines; others may still implement it for reporting). */
  measureClock?(ctx: PhaseContext): Promise<ClockSample>;
  /** Inside the pause. Must be fast and independent of data size. */
  capture(ctx: PhaseContext): Promise<MemberCapture>;
  /** Waits until `handle` is restorable (archived/PITR horizon passed), or the signal aborts. */
  horizon(ctx: PhaseContext, handle: RestoreHandle): Promise<void>;
  /** Default target when none is given (e.g. a new path next to the source), or throws ConfigError. */
  parseRestoreTarget(record: MemberRecord, target: RestoreTarget | undefined): RestoreTarget;
  /** Dry run: the steps `restore` would take. No side effects. */
  planRestore(ctx: RestoreContext): Promise<readonly RestoreStep[]>;
  /** Refuses a non-empty target unless `force`; safe to re-run after a crash. */
  restore(ctx: RestoreContext): Promise<RestoredMember>;
}
