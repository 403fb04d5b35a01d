/**
 * The catalog's SQLite schema and its row types. Kept apart from the catalog logic so the layout can be
 * read in one place.
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

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS backups (
  id TEXT PRIMARY KEY,
  plan_digest TEXT NOT NULL,
  grp TEXT NOT NULL,
  mode TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  paused_at_ms INTEGER,
  unpause_started_at_ms INTEGER,
  mid_ms INTEGER,
  drain_ms INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  owner_pid INTEGER,
  owner_host TEXT,
  targets_json TEXT NOT NULL DEFAULT '[]',
  artifacts_location TEXT NOT NULL DEFAULT '',
  hooks_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS members (
  backup_id TEXT NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  member TEXT NOT NULL,
  engine TEXT NOT NULL,
  state TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  handle_json TEXT,
  bytes INTEGER,
  capture_ms REAL,
  error TEXT,
  PRIMARY KEY (backup_id, member)
);
CREATE TABLE IF NOT EXISTS artifacts (
  backup_id TEXT NOT NULL REFERENCES backups(id) ON DELETE CASCADE,
  member TEXT NOT NULL,
  key TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  shared INTEGER NOT NULL,
  PRIMARY KEY (backup_id, key)
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  backup_id TEXT,
  ts TEXT NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_backup ON events(backup_id, seq);
`;

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
  owner_pid: number | null;
  owner_host: string | null;
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
