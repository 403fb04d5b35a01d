/**
 * The SQLite implementation of the {@link Catalog} contract (./contract.ts): one file (better-sqlite3) in WAL
 * mode, created 0600 in a directory created 0700, its schema brought to the newest version on open
 * (./migrations.ts).
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { ArtifactRef } from '../artifacts/contract.ts';
import type { MemberSpec, RestoreHandle } from '../engines/contract.ts';
import { CatalogError, StillpointError } from '../errors.ts';
import {
  TERMINAL_STATES,
  type ArtifactRow,
  type BackupMode,
  type BackupRow,
  type BackupState,
  type EventRow,
  type MemberRow,
} from './catalog-schema.ts';
import {
  DEFAULT_STALE_AFTER_MS,
  newBackupId,
  newOwnerId,
  type BackupFilter,
  type BackupRecord,
  type Catalog,
  type CatalogEvent,
  type ChainReport,
  type MemberPatch,
  type NewBackup,
  type RestoreHooks,
  type StoredClusterTargets,
  type TransitionPatch,
} from './contract.ts';
import { CATALOG_SCHEMA_VERSION, migrate } from './migrations.ts';
import { redactSecrets } from '../redact.ts';

const GENESIS = '0'.repeat(64);
const NOT_TERMINAL = `state NOT IN (${TERMINAL_STATES.map((s) => `'${s}'`).join(', ')})`;

/**
 * Opens (creating if absent) the catalog at `path` and migrates it to the newest schema. The caller closes
 * it. Refuses a catalog written by a newer version (CATALOG_VERSION_TOO_NEW).
 */
export function openCatalog(path: string): Catalog {
  const full = resolve(path);
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(full), { recursive: true, mode: 0o700 });
    // Created 0600 before SQLite touches it (SQLite gives its -wal and -shm files the same mode); an existing
    // catalog is tightened too, where we own it.
    closeSync(openSync(full, 'a', 0o600));
    try {
      chmodSync(full, 0o600);
    } catch {
      // Not ours to change (another user's file opened read-write): leave its mode.
    }
    db = new Database(full);
    db.pragma('busy_timeout = 10000');
    migrate(db, full);
    db.pragma('journal_mode = WAL');
    // State writes happen inside the pause; NORMAL keeps them cheap in WAL mode and still durable enough:
    // a crash loses at most the last transitions, which recovery treats like a dead orchestrator.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
  } catch (error) {
    db?.close();
    if (error instanceof StillpointError) throw error;
    throw new CatalogError('CATALOG_UNAVAILABLE', `Cannot open the catalog at ${full}.`, {
      hint: 'Check the path given by --catalog, STILLPOINT_CATALOG or the plan, and its permissions.',
      cause: error,
    });
  }
  return new SqliteCatalog(db, full);
}

class SqliteCatalog implements Catalog {
  readonly schemaVersion = CATALOG_SCHEMA_VERSION;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  close(): void {
    if (this.db.open) this.db.close();
  }

  createBackup(input: NewBackup): BackupRecord {
    const id = input.id ?? newBackupId();
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    const ownership = input.ownership ?? { ownerId: newOwnerId(), staleAfterMs: DEFAULT_STALE_AFTER_MS };
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO backups (id, plan_digest, grp, mode, state, created_at, updated_at, owner_id, heartbeat_at_ms,
             stale_after_ms, artifacts_location, hooks_json) VALUES (?, ?, ?, ?, 'planned', ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          input.planDigest,
          input.group,
          input.mode,
          now,
          now,
          ownership.ownerId,
          nowMs,
          ownership.staleAfterMs,
          input.artifactsLocation,
          JSON.stringify(input.hooks ?? {}),
        );
      const insert = this.db.prepare(
        `INSERT INTO members (backup_id, member, engine, state, spec_json) VALUES (?, ?, ?, 'planned', ?)`,
      );
      for (const m of input.members) insert.run(id, m.name, m.engine, JSON.stringify(redactSecrets(m)));
      this.appendEvent(id, 'created', {
        state: 'planned',
        group: input.group,
        mode: input.mode,
        planDigest: input.planDigest,
        members: input.members.map((m) => m.name),
      });
    })();
    return this.get(id);
  }

  transition(id: string, state: BackupState, patch: TransitionPatch = {}): void {
    const sets: string[] = ['state = ?', 'updated_at = ?'];
    const values: unknown[] = [state, new Date().toISOString()];
    const columns: Record<string, string> = {
      reason: 'reason',
      pausedAtMs: 'paused_at_ms',
      unpauseStartedAtMs: 'unpause_started_at_ms',
      midMs: 'mid_ms',
      drainMs: 'drain_ms',
      attempts: 'attempts',
    };
    for (const [field, column] of Object.entries(columns)) {
      const value = (patch as Record<string, unknown>)[field];
      if (value !== undefined) {
        sets.push(`${column} = ?`);
        values.push(value);
      }
    }
    if (patch.targets !== undefined) {
      sets.push('targets_json = ?');
      values.push(JSON.stringify(patch.targets));
    }
    this.db.transaction(() => {
      const result = this.db
        .prepare(`UPDATE backups SET ${sets.join(', ')} WHERE id = ? AND ${NOT_TERMINAL}`)
        .run(...values, id);
      if (result.changes === 0)
        throw this.find(id) === undefined ? notFound(id) : stateFinal(this.get(id), state);
      this.appendEvent(id, 'state', { state, ...patch });
    })();
  }

  heartbeat(id: string, ownerId: string, atMs: number): boolean {
    const result = this.db
      .prepare(`UPDATE backups SET heartbeat_at_ms = ? WHERE id = ? AND owner_id = ? AND ${NOT_TERMINAL}`)
      .run(atMs, id, ownerId);
    return result.changes === 1;
  }

  failIfStale(id: string, observedHeartbeatAtMs: number | null, reason: string): boolean {
    return this.db.transaction(() => {
      const result = this.db
        .prepare(
          `UPDATE backups SET state = 'failed', reason = ?, updated_at = ? WHERE id = ? AND heartbeat_at_ms IS ? AND ${NOT_TERMINAL}`,
        )
        .run(reason, new Date().toISOString(), id, observedHeartbeatAtMs);
      if (result.changes === 0) return false;
      this.appendEvent(id, 'state', { state: 'failed', reason });
      return true;
    })();
  }

  updateMember(id: string, member: string, patch: MemberPatch): void {
    this.db.transaction(() => {
      const result = this.db
        .prepare(
          `UPDATE members SET state = ?,
             handle_json = COALESCE(?, handle_json), bytes = COALESCE(?, bytes),
             capture_ms = COALESCE(?, capture_ms), error = COALESCE(?, error)
           WHERE backup_id = ? AND member = ?`,
        )
        .run(
          patch.state,
          patch.handle === undefined || patch.handle === null ? null : JSON.stringify(patch.handle),
          patch.bytes ?? null,
          patch.captureMs ?? null,
          patch.error ?? null,
          id,
          member,
        );
      if (result.changes === 0) throw notFound(id, member);
      this.appendEvent(id, 'member', { member, ...patch });
    })();
  }

  recordArtifacts(id: string, member: string, refs: readonly ArtifactRef[]): void {
    this.db.transaction(() => {
      const insert = this.db.prepare(
        `INSERT OR REPLACE INTO artifacts (backup_id, member, key, sha256, bytes, shared) VALUES (?, ?, ?, ?, ?, ?)`,
      );
      for (const r of refs) insert.run(id, member, r.key, r.sha256, r.bytes, r.shared ? 1 : 0);
      this.appendEvent(id, 'artifacts', { member, artifacts: refs });
    })();
  }

  note(id: string | null, type: string, data: unknown): void {
    this.db.transaction(() => this.appendEvent(id, type, data))();
  }

  get(id: string): BackupRecord {
    const row = this.db.prepare('SELECT * FROM backups WHERE id = ?').get(id) as BackupRow | undefined;
    if (row === undefined) throw notFound(id);
    return this.toRecord(row);
  }

  find(id: string): BackupRecord | undefined {
    const row = this.db.prepare('SELECT * FROM backups WHERE id = ?').get(id) as BackupRow | undefined;
    return row === undefined ? undefined : this.toRecord(row);
  }

  list(filter: BackupFilter = {}): BackupRecord[] {
    const rows = this.db
      .prepare(
        'SELECT * FROM backups WHERE (? IS NULL OR state = ?) AND (? IS NULL OR grp = ?) ORDER BY created_at, id',
      )
      .all(
        filter.state ?? null,
        filter.state ?? null,
        filter.group ?? null,
        filter.group ?? null,
      ) as BackupRow[];
    return rows.map((r) => this.toRecord(r));
  }

  incomplete(): BackupRecord[] {
    const rows = this.db
      .prepare(`SELECT * FROM backups WHERE ${NOT_TERMINAL} ORDER BY id`)
      .all() as BackupRow[];
    return rows.map((r) => this.toRecord(r));
  }

  deleteBackup(id: string): void {
    this.db.transaction(() => {
      const result = this.db.prepare('DELETE FROM backups WHERE id = ?').run(id);
      if (result.changes === 0) throw notFound(id);
      this.appendEvent(id, 'deleted', {});
    })();
  }

  referencedKeys(excluding: ReadonlySet<string> = new Set()): Set<string> {
    const rows = this.db.prepare('SELECT backup_id, key FROM artifacts').all() as Pick<
      ArtifactRow,
      'backup_id' | 'key'
    >[];
    return new Set(rows.filter((r) => !excluding.has(r.backup_id)).map((r) => r.key));
  }

  events(id?: string): CatalogEvent[] {
    const rows = (
      id === undefined
        ? this.db.prepare('SELECT * FROM events ORDER BY seq').all()
        : this.db.prepare('SELECT * FROM events WHERE backup_id = ? ORDER BY seq').all(id)
    ) as EventRow[];
    return rows.map((r) => ({
      seq: r.seq,
      backupId: r.backup_id,
      ts: r.ts,
      type: r.type,
      data: parsePayload(r).data,
    }));
  }

  verifyChain(): ChainReport {
    const rows = this.db.prepare('SELECT * FROM events ORDER BY seq').all() as EventRow[];
    let prev = GENESIS;
    for (const row of rows) {
      const expected = chainHash(prev, row.payload);
      if (row.prev_hash !== prev || row.hash !== expected) {
        return {
          ok: false,
          checked: rows.length,
          brokenAtSeq: row.seq,
          problems: [`event ${row.seq} does not chain`],
        };
      }
      prev = row.hash;
    }
    return { ok: true, checked: rows.length, problems: [] };
  }

  /**
   * Checks one backup's rows against its logged events: its state is the last logged state and its
   * artifact references are the logged ones. Together with `verifyChain` this detects edits to either.
   */
  verifyRecordAgainstLog(id: string): string[] {
    const record = this.get(id);
    const events = this.events(id);
    const problems: string[] = [];
    const states = events.filter((e) => e.type === 'state' || e.type === 'created');
    const last = states.at(-1)?.data as { state?: string } | undefined;
    if (last?.state !== record.state)
      problems.push(`state ${record.state} is not the last logged state (${String(last?.state)})`);
    const logged = new Map<string, string>();
    for (const e of events.filter((x) => x.type === 'artifacts')) {
      for (const a of (e.data as { artifacts: ArtifactRef[] }).artifacts) logged.set(a.key, a.sha256);
    }
    for (const a of record.artifacts) {
      if (logged.get(a.key) !== a.sha256)
        problems.push(`artifact ${a.key} differs from the logged reference`);
    }
    if (logged.size !== record.artifacts.length)
      problems.push('artifact references were added or removed outside the log');
    return problems;
  }

  private appendEvent(id: string | null, type: string, data: unknown): void {
    const last = this.db.prepare('SELECT hash FROM events ORDER BY seq DESC LIMIT 1').get() as
      { hash: string } | undefined;
    const prev = last?.hash ?? GENESIS;
    const ts = new Date().toISOString();
    const payload = JSON.stringify({ backupId: id, ts, type, data });
    this.db
      .prepare('INSERT INTO events (backup_id, ts, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, ts, type, payload, prev, chainHash(prev, payload));
  }

  private toRecord(row: BackupRow): BackupRecord {
    const members = this.db
      .prepare('SELECT * FROM members WHERE backup_id = ? ORDER BY member')
      .all(row.id) as MemberRow[];
    const artifacts = this.db
      .prepare('SELECT * FROM artifacts WHERE backup_id = ? ORDER BY key')
      .all(row.id) as ArtifactRow[];
    return {
      id: row.id,
      planDigest: row.plan_digest,
      group: row.grp,
      mode: row.mode as BackupMode,
      state: row.state as BackupState,
      reason: row.reason,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      window:
        row.paused_at_ms !== null && row.unpause_started_at_ms !== null && row.mid_ms !== null
          ? { pausedAtMs: row.paused_at_ms, unpauseStartedAtMs: row.unpause_started_at_ms, midMs: row.mid_ms }
          : null,
      drainMs: row.drain_ms,
      attempts: row.attempts,
      owner:
        row.owner_id === null
          ? null
          : {
              ownerId: row.owner_id,
              heartbeatAtMs: row.heartbeat_at_ms ?? 0,
              staleAfterMs: row.stale_after_ms ?? DEFAULT_STALE_AFTER_MS,
            },
      targets: JSON.parse(row.targets_json) as StoredClusterTargets[],
      artifactsLocation: row.artifacts_location,
      hooks: JSON.parse(row.hooks_json) as RestoreHooks,
      members: members.map((m) => ({
        name: m.member,
        engine: m.engine,
        state: m.state,
        spec: JSON.parse(m.spec_json) as MemberSpec,
        handle: m.handle_json === null ? null : (JSON.parse(m.handle_json) as RestoreHandle),
        bytes: m.bytes,
        captureMs: m.capture_ms,
        error: m.error,
      })),
      artifacts: artifacts.map((a) => ({
        member: a.member,
        key: a.key,
        sha256: a.sha256,
        bytes: a.bytes,
        shared: a.shared === 1,
      })),
    };
  }
}

function chainHash(prev: string, payload: string): string {
  return createHash('sha256').update(prev).update(payload).digest('hex');
}

function parsePayload(row: EventRow): { data: unknown } {
  try {
    return JSON.parse(row.payload) as { data: unknown };
  } catch {
    return { data: null };
  }
}

function stateFinal(record: BackupRecord, wanted: BackupState): CatalogError {
  return new CatalogError(
    'BACKUP_STATE_FINAL',
    `Backup ${record.id} is already ${record.state}${record.reason ? ` (${record.reason})` : ''}; it cannot become ${wanted}.`,
    {
      context: { backupId: record.id },
      hint: 'A terminal state is final. If this run was classified failed by `backups recover`, its heartbeat had stopped: check the host for stalls.',
    },
  );
}

function notFound(id: string, member?: string): CatalogError {
  return new CatalogError(
    'BACKUP_NOT_FOUND',
    `No backup ${id}${member ? ` with member ${member}` : ''} in the catalog.`,
    {
      context: { backupId: id, ...(member ? { member } : {}) },
      hint: 'Run `stillpoint backups list` to see the backup ids, and check --catalog.',
    },
  );
}
