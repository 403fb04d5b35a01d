/**
 * Backup engines: the contract of this folder.
 *
 * An {@link EngineKind} is stateless: it parses a member's options once and opens SESSIONS. All state of one
 * member in one backup (connections opened before the pause, base backups, child processes, temp files)
 * lives in a {@link BackupSession}; all state of one member in one restore lives in a {@link RestoreSession}.
 * The orchestrator owns its sessions and closes every one of them, whatever the outcome.
 *
 * Every engine folder has the same file set, one subfolder per strategy with the same file names:
 *
 *   <kind>/engine.ts        the EngineKind: options schema parse, capabilities, openBackup / openRestore
 *   <kind>/options.ts       the zod schema of `member.options` and of a restore target
 *   <kind>/connection.ts    how to connect (when the engine has connections)
 *   <kind>/<strategy>/capture.ts   the backup session's phases (e.g. `postgres/pitr/capture.ts`)
 *   <kind>/<strategy>/restore.ts   the restore session (e.g. `postgres/pitr/restore.ts`)
 *
 * The orchestrator plans from {@link EngineCapabilities} (data, derived from the parsed options), never
 * from the engine's name. A backup of one member goes through these phases, all on one BackupSession:
 *
 *   openBackup (no I/O) → preflight (no pause; credentials, tools, archiving)
 *   → prepare (no pause; e.g. a base backup, pre-open the capture connection)
 *   → [pause] → measureClock? → capture (inside the pause: milliseconds, independent of data size) → [unpause]
 *   → finish (stream, compress, checksum into the artifact store) | discard (window invalid → retry)
 *   → horizon (wait until restorable; returns at once when `horizonWait` is false)
 *   → close (always, in the run's `finally`)
 *
 * and a restore, on one RestoreSession per member:
 *
 *   openRestore (no I/O) → plan (dry run, printed) → inspect (non-destructive: reachable, credentials,
 *   target state; a dry run stops here) → restore (destructive; refused unless the target is
 *   absent / empty / in-progress of this backup, or `force`) → [the orchestrator runs the recovery sweep and
 *   the checker on the restored group] → markFinished → close (always)
 *
 * Fit of engines outside this repo (the contract is written so they need no change):
 * - DynamoDB: handle `time` (PITR; DB clock offset measured), restore into a new table name, settings
 *   re-applied in restore steps; horizon = now − 5 min past the restore time.
 * - Cosmos DB: handle `time`, restore creates a new account; a restore step sets consistency STRONG.
 * - Cassandra: `snapshot` captured on every node (capture fans out; one artifact per node).
 */
import type { ArtifactRef, ArtifactStore } from '../artifacts/contract.ts';
import type { StorageConfig } from '../txn/contract.ts';

// ---------------------------------------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------------------------------------

/** What one member's backup can do; derived from the member's PARSED options (a strategy, not a kind). */
export interface EngineCapabilities {
  /**
   * One capture is an atomic cut of every table in the member (a transactional database). A group whose
   * only member has this needs no pause at all (mode `single`).
   */
  readonly atomicCapture: boolean;
  /** Capture is a snapshot the engine copies after unpause (the pause need not outlast capture). */
  readonly snapshotInsidePause: boolean;
  /** A time handle is read in the database's clock; the window must cover the measured clock offset. */
  readonly clockBased: boolean;
  /** The handle becomes restorable only later (WAL/binlog archived, PITR lag); `horizon` waits for it. */
  readonly horizonWait: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Handles and shared types
// ---------------------------------------------------------------------------------------------------------

/** A member's restore point, as stored in the catalog (JSON). */
export type RestoreHandle =
  | {
      readonly kind: 'snapshot';
      readonly snapshotId: string;
      readonly detail?: Readonly<Record<string, unknown>>;
    }
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

/**
 * Bytes copied so far by one member in a long phase: `prepare` and `finish` write artifacts (a base backup,
 * a dump), `restore` reads them. Reported for one artifact key at a time, at most every ~100 ms, and once
 * more with `done` when that artifact is complete (then `bytesDone` is its stored size).
 */
export interface TransferProgress {
  readonly member: string;
  readonly phase: 'prepare' | 'finish' | 'restore';
  readonly key: string;
  readonly bytesDone: number;
  /** Known when the source has a size (a file, a buffer, a stored artifact being read). */
  readonly bytesTotal?: number;
  readonly done: boolean;
}

export type TransferSink = (progress: TransferProgress) => void;

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Member as configured in the plan. `options` is engine-specific and parsed ONCE by {@link EngineKind.parseOptions}. */
export interface MemberSpec {
  readonly name: string;
  readonly engine: string;
  readonly connection: StorageConfig;
  /** Transaction-layer namespaces held by this member (the Coordinator is `coordinator`). */
  readonly namespaces: readonly string[];
  readonly options: Readonly<Record<string, unknown>>;
}

export interface PreflightCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to do when !ok. */
  readonly hint?: string;
}

// ---------------------------------------------------------------------------------------------------------
// The engine kind (stateless)
// ---------------------------------------------------------------------------------------------------------

export interface EngineKind<O = unknown> {
  /** The plan's `members[].engine`: 'sqlite' | 'postgres' | 'mariadb' | … */
  readonly kind: string;
  /**
   * Parses and validates `member.options` ONCE (zod); throws ConfigError naming the member and the key.
   * The result is frozen and handed to every later call.
   */
  parseOptions(member: MemberSpec): O;
  /** Capabilities derived from the PARSED options (a logical PostgreSQL member has `horizonWait` false). */
  capabilities(options: O): EngineCapabilities;
  /** A backup session for one member of one backup. Opening does no I/O. */
  openBackup(ctx: BackupSessionContext, options: O): BackupSession;
  /** A restore session for one member of one backup record. Opening does no I/O. */
  openRestore(ctx: RestoreSessionContext, options: O): RestoreSession;
}

// ---------------------------------------------------------------------------------------------------------
// Backup session
// ---------------------------------------------------------------------------------------------------------

export interface BackupSessionContext {
  readonly backupId: string;
  readonly member: MemberSpec;
  readonly artifacts: ArtifactStore;
  /** Artifact key prefix owned by this member in this backup: `<backupId>/<member>/`. */
  readonly artifactPrefix: string;
  /** Artifact key prefix shared by every backup of this member (base backups, WAL, binlogs): `shared/<member>/`. */
  readonly sharedPrefix: string;
  readonly log: Logger;
  /**
   * Progress of long copies. `artifacts` above already reports every `put` and `get` through it (the
   * orchestrator hands sessions a counting store), so an engine calls this only for bytes it moves outside
   * the store (a tool writing straight into `localPath`).
   */
  readonly onTransfer?: TransferSink;
}

/** What `capture` took inside the pause. */
export interface CaptureResult {
  /** The handle as known inside the pause (`time` handles are completed by the orchestrator's window). */
  readonly handle: RestoreHandle | null;
  /** Our clock, epoch ms, when capture completed. */
  readonly capturedAtMs: number;
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

/**
 * One member in one backup. Owns its parsed options, its connections, child processes, timers and temp
 * files. Every long call takes an AbortSignal and ends promptly when it aborts.
 */
export interface BackupSession {
  /** Same as `kind.capabilities(options)`. */
  readonly capabilities: EngineCapabilities;
  /** No pause yet: credentials, tools, archiving. Never throws for a failed check (it returns `ok: false`). */
  preflight(signal: AbortSignal): Promise<readonly PreflightCheck[]>;
  /** Before any pause: make the member ready (e.g. a base backup covering the coming restore point, pre-open the capture connection). */
  prepare(signal: AbortSignal): Promise<void>;
  /** Database clock minus ours (clock-based engines; others may still implement it for reporting). */
  measureClock?(signal: AbortSignal): Promise<ClockSample>;
  /** Inside the pause. Must be fast (milliseconds) and independent of data size. */
  capture(signal: AbortSignal): Promise<CaptureResult>;
  /** After unpause: copy out, checksum, return what the catalog must store. */
  finish(window: FinishWindow, signal: AbortSignal): Promise<FinishedMember>;
  /**
   * After the unpause, before finish: reasons this attempt's capture is not a consistent cut (a Cassandra node
   * restarted or did not snapshot, the ring changed). Any reason makes the window invalid: discard + retry.
   */
  windowProblems?(signal: AbortSignal): Promise<readonly string[]>;
  /** Drops a capture that will not be finished (invalid window → retry). Idempotent, never throws. */
  discard(): Promise<void>;
  /** Waits until `handle` is restorable; returns at once when `capabilities.horizonWait` is false. */
  horizon(handle: RestoreHandle, signal: AbortSignal): Promise<void>;
  /**
   * Closes EVERY connection, child process, timer and temp file the session holds, whatever phase it
   * reached. Idempotent, never throws, bounded (a polite close, then force after a grace period).
   */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Restore session
// ---------------------------------------------------------------------------------------------------------

/**
 * Where to restore one member; engine-specific fields parsed by the engine's restore session. Any target
 * that connects to a server may carry its own credentials — `user`, and one of `password`, `passwordEnv`
 * (an environment variable name) or `passwordFile` — defaulting to the member's.
 */
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

export interface RestoreSessionContext {
  readonly record: MemberRecord;
  /** The raw target as given (undefined: the engine's default); the session parses it. */
  readonly target: RestoreTarget | undefined;
  readonly artifacts: ArtifactStore;
  readonly log: Logger;
  /**
   * Progress of long copies. `artifacts` above already reports every `put` and `get` through it (the
   * orchestrator hands sessions a counting store), so an engine calls this only for bytes it moves outside
   * the store (a tool writing straight into `localPath`).
   */
  readonly onTransfer?: TransferSink;
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

/** The state of a restore target, found without changing anything. */
export interface TargetInspection {
  /** Reachable, credentials, tools …; any `!ok` → the restore is refused (force does not help). */
  readonly checks: readonly PreflightCheck[];
  /**
   * - `absent` | `empty`: restorable.
   * - `in-progress`: the leftover of an earlier restore of THIS backup that did not finish (safe to redo).
   * - `restored`: an earlier restore of this backup finished (it may have been written to since) → needs force.
   * - `foreign`: holds data this restore did not write → needs force.
   * - `live-source`: the target IS the member's live source database → needs force AND allowSource.
   */
  readonly state: 'absent' | 'empty' | 'in-progress' | 'restored' | 'foreign' | 'live-source';
  /** A human sentence, e.g. "database bank_copy has 3 tables". */
  readonly detail: string;
  /** What to do about it, e.g. how to remove a leftover. */
  readonly hint?: string;
}

export interface RestoreOptions {
  /** Overwrite a target that is `restored` or `foreign` (and, with `allowSource`, `live-source`). */
  readonly force: boolean;
  /** Together with `force`: allow restoring over the member's live source database. Default false. */
  readonly allowSource?: boolean;
  readonly signal: AbortSignal;
}

/** One member in one restore. Owns its connections, child processes (a recovering server) and temp files. */
export interface RestoreSession {
  /** The parsed target, defaults applied (print it with secrets redacted). */
  readonly target: RestoreTarget;
  /** The steps `restore` would take (dry run). No side effects. */
  plan(): Promise<readonly RestoreStep[]>;
  /** Non-destructive checks run BEFORE anything changes (a dry run too): reachable, credentials, target state. */
  inspect(signal: AbortSignal): Promise<TargetInspection>;
  /**
   * Restores the member. Writes an "in-progress" marker before it changes anything; refuses (ConfigError
   * `RESTORE_TARGET_NOT_EMPTY`, or `RESTORE_TARGET_IS_SOURCE`) unless `inspect` says absent / empty /
   * in-progress, or `force` (and `allowSource` for the live source).
   */
  restore(opts: RestoreOptions): Promise<RestoredMember>;
  /** After the whole restore (sweep + check) succeeded: turn the marker into "restored", so a later re-run needs force. */
  markFinished(): Promise<void>;
  /** Closes every connection, child process and temp file. Idempotent, never throws, bounded. */
  close(): Promise<void>;
}
