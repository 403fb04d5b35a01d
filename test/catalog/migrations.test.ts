import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { CATALOG_SCHEMA_VERSION } from '../../src/catalog/migrations.ts';

/** Written by the catalog code of the first releases (no schema version): one complete and one failed backup. */
const FIXTURE = join(import.meta.dirname, 'fixtures', 'catalog-v1-unversioned.db');

function dump(path: string): {
  backups: unknown[];
  members: unknown[];
  artifacts: unknown[];
  events: unknown[];
} {
  const db = new Database(path, { readonly: true });
  try {
    const all = (sql: string): unknown[] => db.prepare(sql).all();
    return {
      backups: all(
        'SELECT id, plan_digest, grp, mode, state, reason, created_at, paused_at_ms, unpause_started_at_ms, mid_ms, drain_ms, attempts, owner_pid, owner_host, targets_json, artifacts_location, hooks_json FROM backups ORDER BY id',
      ),
      members: all('SELECT * FROM members ORDER BY backup_id, member'),
      artifacts: all('SELECT * FROM artifacts ORDER BY backup_id, key'),
      events: all('SELECT * FROM events ORDER BY seq'),
    };
  } finally {
    db.close();
  }
}

describe('catalog schema versions and migrations (real SQLite files)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sp-migr-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('upgrades a catalog written by the first (unversioned) releases without losing a row or an event', () => {
    const file = join(dir, 'catalog.db');
    copyFileSync(FIXTURE, file);
    const before = dump(file);
    expect(before.backups).toHaveLength(2);
    expect(before.events.length).toBeGreaterThan(30);

    const catalog = openCatalog(file);
    try {
      expect(catalog.schemaVersion).toBe(CATALOG_SCHEMA_VERSION);
      const states = catalog
        .list()
        .map((b) => b.state)
        .sort();
      expect(states).toEqual(['complete', 'failed']);
      const complete = catalog.list({ state: 'complete' })[0]!;
      expect(complete.artifacts).toHaveLength(3);
      expect(complete.members.map((m) => m.handle?.kind)).toEqual(['snapshot', 'snapshot', 'snapshot']);
      expect(complete.window).not.toBeNull();
      // Rows written before ownership existed get an owner derived from their host and PID.
      expect(complete.owner?.ownerId).toMatch(/^v1:.+:\d+$/);
      expect(complete.owner?.heartbeatAtMs).toBe(Date.parse(complete.updatedAt));
      // The chain written by the old code still verifies, and each backup still matches its log.
      expect(catalog.verifyChain()).toMatchObject({ ok: true, checked: before.events.length });
      for (const b of catalog.list()) expect(catalog.verifyRecordAgainstLog(b.id)).toEqual([]);
      // The upgraded catalog keeps working: a new event chains onto the old ones.
      catalog.note(null, 'after-upgrade', {});
      expect(catalog.verifyChain()).toMatchObject({ ok: true, checked: before.events.length + 1 });
    } finally {
      catalog.close();
    }

    const after = dump(file);
    expect(after.backups).toEqual(before.backups);
    expect(after.members).toEqual(before.members);
    expect(after.artifacts).toEqual(before.artifacts);
    expect(after.events.slice(0, before.events.length)).toEqual(before.events);
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(CATALOG_SCHEMA_VERSION);
    raw.close();
    // Opening again is a no-op (already at the newest version).
    openCatalog(file).close();
    expect(dump(file).events).toHaveLength(before.events.length + 1);
  });

  it('refuses a catalog from a newer schema version with CATALOG_VERSION_TOO_NEW, and changes nothing', () => {
    const file = join(dir, 'catalog.db');
    copyFileSync(FIXTURE, file);
    openCatalog(file).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${CATALOG_SCHEMA_VERSION + 1}`);
    raw.close();
    const before = dump(file);
    expect(() => openCatalog(file)).toThrow(
      expect.objectContaining({ code: 'CATALOG_VERSION_TOO_NEW' }) as Error,
    );
    expect(dump(file)).toEqual(before);
  });

  it('refuses a SQLite file that is not a catalog with CATALOG_UNRECOGNIZED', () => {
    const file = join(dir, 'other.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY)');
    raw.close();
    expect(() => openCatalog(file)).toThrow(
      expect.objectContaining({ code: 'CATALOG_UNRECOGNIZED' }) as Error,
    );
  });

  it('creates a new catalog at the newest version, the file 0600 in a directory 0700 (issue 11 row 14)', () => {
    const file = join(dir, 'state', 'catalog.db');
    const catalog = openCatalog(file);
    catalog.createBackup({
      planDigest: 'x',
      group: 'g',
      mode: 'single',
      members: [],
      artifactsLocation: dir,
    });
    catalog.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(CATALOG_SCHEMA_VERSION);
    raw.close();
  });
});
