/**
 * The catalog's states and the SQLite row types of the newest schema (the tables themselves are created and
 * changed only by ./migrations.ts).
 */

/** Orchestrator states; the order is the order a backup moves through them. */
export const BACKUP_STATES = [
  'planned',
  'preflight',
  'pausing',
  'paused',
  'captured',
  'unpausing',
  'validating',
  'finishing',
  'complete',
  'invalid',
  'failed',
] as const;
export type BackupState = (typeof BACKUP_STATES)[number];

export const TERMINAL_STATES: readonly BackupState[] = ['complete', 'invalid', 'failed'];

/** States in which a pause may be held by the orchestrator that wrote them. */
export const PAUSE_HELD_STATES: readonly BackupState[] = ['pausing', 'paused', 'captured', 'unpausing'];

export type BackupMode = 'single' | 'pause-window' | 'snapshot';

export interface BackupRow {
  id: string;
  plan_digest: string;
  grp: string;
  mode: string;
  state: string;
  reason: string | null;
  created_at: string;
  updated_at: string;
  paused_at_ms: number | null;
  unpause_started_at_ms: number | null;
  mid_ms: number | null;
  drain_ms: number | null;
  attempts: number;
  /** v1 only, kept so upgraded rows lose nothing; never written or read for ownership since v2. */
  owner_pid: number | null;
  /** v1 only, as owner_pid. */
  owner_host: string | null;
  owner_id: string | null;
  heartbeat_at_ms: number | null;
  stale_after_ms: number | null;
  targets_json: string;
  artifacts_location: string;
  hooks_json: string;
}

export interface MemberRow {
  backup_id: string;
  member: string;
  engine: string;
  state: string;
  spec_json: string;
  handle_json: string | null;
  bytes: number | null;
  capture_ms: number | null;
  error: string | null;
}

export interface ArtifactRow {
  backup_id: string;
  member: string;
  key: string;
  sha256: string;
  bytes: number;
  shared: number;
}

export interface EventRow {
  seq: number;
  backup_id: string | null;
  ts: string;
  type: string;
  payload: string;
  prev_hash: string;
  hash: string;
}
