/**
 * The catalog's schema versions and the forward migrations between them. The version lives in SQLite's
 * `PRAGMA user_version`; each migration runs in one transaction together with the version bump, so a crash
 * leaves the catalog at the old version or the new one, never between.
 *
 * - v1: the schema of the first releases, written WITHOUT a version (user_version 0). A catalog at 0 that
 *   has a `backups` table is a v1 catalog; one without any table is new.
 * - v2: ownership by heartbeat (owner_id, heartbeat_at_ms, stale_after_ms). v1 rows get an owner id derived
 *   from their host and PID and their last update as heartbeat, so a backup a v1 orchestrator left behind
 *   is classified by the same rule as any other.
 *
 * A catalog from a NEWER version is refused (CATALOG_VERSION_TOO_NEW): older code cannot know what the
 * newer columns mean. Migrations are only ever appended; a released migration is never edited.
 */
import type Database from 'better-sqlite3';
import { CatalogError } from '../errors.ts';
import { DEFAULT_STALE_AFTER_MS } from './contract.ts';

export interface Migration {
  readonly version: number;
  readonly description: string;
  up(db: Database.Database): void;
}

const V1_SQL = `
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

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'backups, members, artifacts, chained events', up: (db) => db.exec(V1_SQL) },
  {
    version: 2,
    description: 'ownership by heartbeat: owner_id, heartbeat_at_ms, stale_after_ms',
    up(db) {
      db.exec(`
        ALTER TABLE backups ADD COLUMN owner_id TEXT;
        ALTER TABLE backups ADD COLUMN heartbeat_at_ms INTEGER;
        ALTER TABLE backups ADD COLUMN stale_after_ms INTEGER;
      `);
      const rows = db.prepare('SELECT id, updated_at, owner_pid, owner_host FROM backups').all() as {
        id: string;
        updated_at: string;
        owner_pid: number | null;
        owner_host: string | null;
      }[];
      const update = db.prepare(
        'UPDATE backups SET owner_id = ?, heartbeat_at_ms = ?, stale_after_ms = ? WHERE id = ?',
      );
      for (const r of rows) {
        const heartbeat = Date.parse(r.updated_at);
        update.run(
          `v1:${r.owner_host ?? '?'}:${r.owner_pid ?? '?'}`,
          Number.isNaN(heartbeat) ? 0 : heartbeat,
          DEFAULT_STALE_AFTER_MS,
          r.id,
        );
      }
    },
  },
];

export const CATALOG_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

export interface MigrationOutcome {
  readonly from: number;
  readonly to: number;
}

/** Brings the catalog at `path` (open as `db`) to {@link CATALOG_SCHEMA_VERSION}. */
export function migrate(db: Database.Database, path: string): MigrationOutcome {
  const from = currentVersion(db, path);
  if (from > CATALOG_SCHEMA_VERSION) {
    throw new CatalogError(
      'CATALOG_VERSION_TOO_NEW',
      `The catalog at ${path} has schema version ${from}; this stillpoint knows versions up to ${CATALOG_SCHEMA_VERSION}.`,
      {
        context: { path, version: from, supported: CATALOG_SCHEMA_VERSION },
        hint: 'A newer stillpoint wrote this catalog: use that version (or newer). Older versions never downgrade a catalog.',
      },
    );
  }
  for (const m of MIGRATIONS) {
    if (m.version <= from) continue;
    db.transaction(() => {
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return { from, to: CATALOG_SCHEMA_VERSION };
}

/** The stored version; 0 with a `backups` table is an unversioned v1 catalog, 0 with no table a new one. */
function currentVersion(db: Database.Database, path: string): number {
  const stored = db.pragma('user_version', { simple: true }) as number;
  if (stored !== 0) return stored;
  const tables = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as {
      name: string;
    }[]
  ).map((t) => t.name);
  if (tables.length === 0) return 0;
  if (tables.includes('backups') && tables.includes('events')) return 1;
  throw new CatalogError(
    'CATALOG_UNRECOGNIZED',
    `${path} is a SQLite file but not a stillpoint catalog (tables: ${tables.join(', ')}).`,
    {
      context: { path },
      hint: "Point --catalog (or STILLPOINT_CATALOG, or the plan's catalog.path) at a stillpoint catalog, or at a new file.",
    },
  );
}
