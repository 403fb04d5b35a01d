/**
 * The backup catalog: the contract of this folder. A catalog holds every backup's state, pause window,
 * members, artifact references, ownership (owner id + heartbeat) and an append-only event log. Today's
 * implementation is one SQLite file (./sqlite-catalog.ts, opened by `openCatalog`); its schema is versioned
 * and migrated forward on open (./migrations.ts, docs/decisions/0006-catalog-migrations-and-ownership.md).
 *
 * Every state change is written together with its event in one transaction, BEFORE the step it announces is
 * taken: a restarted orchestrator reads what was about to happen. A terminal state (complete, invalid,
 * failed) is final: a later transition is refused with BACKUP_STATE_FINAL.
 *
 * The event log is chained by sha256 (each event stores sha256(prev_hash + payload)). The chain is
 * UNKEYED: it detects accidental corruption and careless edits (a changed or deleted event, a row edited
 * without its event), NOT tampering — anyone who can write the file can recompute every hash. Nothing that
 * is executed or trusted at restore time (restore hooks, credentials) may rely on the chain for integrity.
 */
import { randomBytes } from 'node:crypto';
import type { ArtifactRef } from '../artifacts/contract.ts';
import type { MemberSpec, RestoreHandle } from '../engines/contract.ts';
import type { Target } from '../pause/contract.ts';
import type { BackupMode, BackupState } from './catalog-schema.ts';

export type { BackupMode, BackupState } from './catalog-schema.ts';

/** The targets of one cluster, stored before pausing so a restarted orchestrator can unpause them. */
export interface StoredClusterTargets {
  readonly cluster: string;
  readonly targets: readonly Target[];
  readonly leaseMs: number;
}

export interface RestoreHooks {
  readonly before?: readonly string[];
  readonly after?: readonly string[];
}

export interface MemberEntry {
  readonly name: string;
  readonly engine: string;
  readonly state: string;
  readonly spec: MemberSpec;
  readonly handle: RestoreHandle | null;
  readonly bytes: number | null;
  readonly captureMs: number | null;
  readonly error: string | null;
}

export interface ArtifactEntry extends ArtifactRef {
  readonly member: string;
}

/**
 * Who runs a backup: a random id per run (never a host name or PID, which other hosts cannot check and
 * which get reused), the last heartbeat (epoch ms, the owner's clock) and after how long without one the
 * run counts as lost.
 */
export interface BackupOwnership {
  readonly ownerId: string;
  readonly heartbeatAtMs: number;
  readonly staleAfterMs: number;
}

export interface BackupRecord {
  readonly id: string;
  readonly planDigest: string;
  readonly group: string;
  readonly mode: BackupMode;
  readonly state: BackupState;
  readonly reason: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly window: { pausedAtMs: number; unpauseStartedAtMs: number; midMs: number } | null;
  readonly drainMs: number | null;
  readonly attempts: number;
  /** Null only for rows whose ownership was never recorded. */
  readonly owner: BackupOwnership | null;
  readonly targets: readonly StoredClusterTargets[];
  readonly artifactsLocation: string;
  readonly hooks: RestoreHooks;
  readonly members: readonly MemberEntry[];
  readonly artifacts: readonly ArtifactEntry[];
}

export interface NewBackup {
  readonly id?: string;
  readonly planDigest: string;
  readonly group: string;
  readonly mode: BackupMode;
  readonly members: readonly MemberSpec[];
  readonly artifactsLocation: string;
  readonly hooks?: RestoreHooks;
  /** Owner id and stale bound of the run (default: a fresh owner id, {@link DEFAULT_STALE_AFTER_MS}). */
  readonly ownership?: { readonly ownerId: string; readonly staleAfterMs: number };
}

/** Fields a transition may set along with the new state. */
export interface TransitionPatch {
  readonly reason?: string | null;
  readonly pausedAtMs?: number | null;
  readonly unpauseStartedAtMs?: number | null;
  readonly midMs?: number | null;
  readonly drainMs?: number | null;
  readonly attempts?: number;
  readonly targets?: readonly StoredClusterTargets[];
}

export interface MemberPatch {
  readonly state: string;
  readonly handle?: RestoreHandle | null;
  readonly bytes?: number | null;
  readonly captureMs?: number | null;
  readonly error?: string | null;
}

export interface CatalogEvent {
  readonly seq: number;
  readonly backupId: string | null;
  readonly ts: string;
  readonly type: string;
  readonly data: unknown;
}

export interface ChainReport {
  readonly ok: boolean;
  /** Number of catalog events whose hash was recomputed (the whole log, every backup). */
  readonly checked: number;
  /** First event whose hash or link does not match, when !ok. */
  readonly brokenAtSeq?: number;
  readonly problems: readonly string[];
}

export interface BackupFilter {
  readonly state?: BackupState;
  readonly group?: string;
}

/** The stale bound of a row whose run recorded none (15 s default lease × 2 + margin). */
export const DEFAULT_STALE_AFTER_MS = 35_000;

export interface Catalog {
  /** Where the catalog lives (a file path). */
  readonly path: string;
  /** The schema version of the open catalog (always the newest this code knows, after migration). */
  readonly schemaVersion: number;
  close(): void;

  createBackup(input: NewBackup): BackupRecord;
  /** Moves a backup to `state` (with optional fields) and logs it, atomically. Refused once terminal. */
  transition(id: string, state: BackupState, patch?: TransitionPatch): void;
  updateMember(id: string, member: string, patch: MemberPatch): void;
  recordArtifacts(id: string, member: string, refs: readonly ArtifactRef[]): void;
  /** Appends a free-form event (progress, validity results) to the chained log. */
  note(id: string | null, type: string, data: unknown): void;

  /**
   * Renews the owner's heartbeat (not logged: it is liveness, not history). False when the backup is no
   * longer this owner's live run (terminal, deleted, or taken over): the caller stops renewing.
   */
  heartbeat(id: string, ownerId: string, atMs: number): boolean;
  /**
   * Marks a backup `failed` with `reason` only if it is still non-terminal and its heartbeat is still the
   * one the caller judged stale (`observedHeartbeatAtMs`), so a run that came back, or a second recoverer,
   * is never overwritten. True when this call classified it.
   */
  failIfStale(id: string, observedHeartbeatAtMs: number | null, reason: string): boolean;

  get(id: string): BackupRecord;
  find(id: string): BackupRecord | undefined;
  /** Backups, oldest first by creation time (ids carry only the second), optionally filtered by state and group. */
  list(filter?: BackupFilter): BackupRecord[];
  /** Backups not in a terminal state. */
  incomplete(): BackupRecord[];
  /** Removes a backup's rows (the event log keeps a `deleted` event). Artifacts are the caller's job. */
  deleteBackup(id: string): void;
  /** Artifact keys referenced by any backup other than those in `excluding`. */
  referencedKeys(excluding?: ReadonlySet<string>): Set<string>;
  events(id?: string): CatalogEvent[];
  /** Recomputes the hash chain over the whole log (accidental corruption only; see the file comment). */
  verifyChain(): ChainReport;
  /**
   * Checks one backup's rows against its logged events: its state is the last logged state and its
   * artifact references are the logged ones. Returns the problems.
   */
  verifyRecordAgainstLog(id: string): string[];
}

/** A sortable backup id: `bk-20261122T035512Z-1a2b`. */
export function newBackupId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `bk-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Age of the last heartbeat at `nowMs`, or Infinity when none was ever recorded. */
export function heartbeatAgeMs(owner: BackupOwnership | null, nowMs: number): number {
  return owner === null ? Number.POSITIVE_INFINITY : nowMs - owner.heartbeatAtMs;
}

/**
 * True when the owner has not renewed its heartbeat within its stale bound: its run is lost, wherever it
 * ran (src/orchestrator/ownership.ts explains the bound).
 */
export function isStale(owner: BackupOwnership | null, nowMs: number): boolean {
  return owner === null || heartbeatAgeMs(owner, nowMs) > owner.staleAfterMs;
}

/** A random owner id for one backup run: `own-<16 hex>`. */
export function newOwnerId(): string {
  return `own-${randomBytes(8).toString('hex')}`;
}
