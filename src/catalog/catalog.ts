/**
 * The backup catalog: one SQLite file (better-sqlite3). Holds every backup's state, window, members,
 * artifact references, and an append-only event log chained by sha256 (each event stores
 * sha256(prev_hash + payload)), so editing or deleting a past event is detected by `verifyChain`.
 *
 * Every state change is written together with its event in one SQLite transaction, BEFORE the step it
 * announces is taken: a restarted orchestrator reads what was about to happen.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { ArtifactRef } from '../artifacts/contract.ts';
import type { MemberSpec, RestoreHandle } from '../engines/contract.ts';
import { CatalogError } from '../errors.ts';
import type { Target } from '../pause/contract.ts';
import {
  SCHEMA_SQL,
  TERMINAL_STATES,
  type ArtifactRow,
  type BackupMode,
  type BackupRow,
  type BackupState,
  type EventRow,
  type MemberRow,
} from './catalog-schema.ts';

export type { BackupMode, BackupState } from './catalog-schema.ts';

const GENESIS = '0'.repeat(64);

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
  readonly owner: { pid: number; host: string } | null;
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
  readonly checked: number;
  /** First event whose hash or link does not match, when !ok. */
  readonly brokenAtSeq?: number;
  readonly problems: readonly string[];
}

/** A sortable backup id: `bk-20261122T035512Z-1a2b`. */
export function newBackupId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `bk-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Removes inline secrets from a member spec before it is stored or printed. */
export function redactSpec(spec: MemberSpec): MemberSpec {
  const connection = { ...spec.connection } as Record<string, unknown>;
  if ('password' in connection) connection.password = '***';
  return { ...spec, connection: connection as unknown as MemberSpec['connection'] };
}

/** Opens (creating if absent) the catalog at `path`. The caller closes it. */
export function openCatalog(path: string): Catalog {
  const full = resolve(path);
  mkdirSync(dirname(full), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(full);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 10000');
    // State writes happen inside the pause; NORMAL keeps them cheap in WAL mode and still durable enough:
    // a crash loses at most the last transitions, which recovery treats like a dead orchestrator.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.exec(SCHEMA_SQL);
  } catch (error) {
    throw new CatalogError('CATALOG_UNAVAILABLE', `Cannot open the catalog at ${full}.`, {
      hint: 'Check the path given by --catalog, STILLPOINT_CATALOG or the plan, and its permissions.',
      cause: error,
    });
  }
  return new Catalog(db, full);
}

export class Catalog {
  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  close(): void {
    if (this.db.open) this.db.close();
  }

  createBackup(input: NewBackup): BackupRecord {
    const id = input.id ?? newBackupId();
    const now = new Date().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO backups (id, plan_digest, grp, mode, state, created_at, updated_at, owner_pid, owner_host,
             artifacts_location, hooks_json) VALUES (?, ?, ?, ?, 'planned', ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, input.planDigest, input.group, input.mode, now, now, process.pid, hostname(), input.artifactsLocation,
          JSON.stringify(input.hooks ?? {}));
      const insert = this.db.prepare(
        `INSERT INTO members (backup_id, member, engine, state, spec_json) VALUES (?, ?, ?, 'planned', ?)`,
      );
      for (const m of input.members) insert.run(id, m.name, m.engine, JSON.stringify(redactSpec(m)));
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

  /** Moves a backup to `state` (with optional fields) and logs it, atomically. */
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
      const result = this.db.prepare(`UPDATE backups SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
      if (result.changes === 0) throw notFound(id);
      this.appendEvent(id, 'state', { state, ...patch });
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

  /** Appends a free-form event (progress, validity results) to the chained log. */
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

  /** Every backup, oldest first (ids sort by time). */
  list(): BackupRecord[] {
    const rows = this.db.prepare('SELECT * FROM backups ORDER BY id').all() as BackupRow[];
    return rows.map((r) => this.toRecord(r));
  }

  /** Backups not in a terminal state. */
  incomplete(): BackupRecord[] {
    return this.list().filter((b) => !TERMINAL_STATES.includes(b.state));
  }

  /** Removes a backup's rows (the event log keeps a `deleted` event). Artifacts are the caller's job. */
  deleteBackup(id: string): void {
    this.db.transaction(() => {
      const result = this.db.prepare('DELETE FROM backups WHERE id = ?').run(id);
      if (result.changes === 0) throw notFound(id);
      this.appendEvent(id, 'deleted', {});
    })();
  }

  /** Artifact keys referenced by any backup other than those in `excluding`. */
  referencedKeys(excluding: ReadonlySet<string> = new Set()): Set<string> {
    const rows = this.db.prepare('SELECT backup_id, key FROM artifacts').all() as Pick<ArtifactRow, 'backup_id' | 'key'>[];
    return new Set(rows.filter((r) => !excluding.has(r.backup_id)).map((r) => r.key));
  }

  events(id?: string): CatalogEvent[] {
    const rows = (
      id === undefined
        ? this.db.prepare('SELECT * FROM events ORDER BY seq').all()
        : this.db.prepare('SELECT * FROM events WHERE backup_id = ? ORDER BY seq').all(id)
    ) as EventRow[];
    return rows.map((r) => ({ seq: r.seq, backupId: r.backup_id, ts: r.ts, type: r.type, data: parsePayload(r).data }));
  }

  /** Recomputes the hash chain over the whole log. */
  verifyChain(): ChainReport {
    const rows = this.db.prepare('SELECT * FROM events ORDER BY seq').all() as EventRow[];
    let prev = GENESIS;
    for (const row of rows) {
      const expected = chainHash(prev, row.payload);
      if (row.prev_hash !== prev || row.hash !== expected) {
        return { ok: false, checked: rows.length, brokenAtSeq: row.seq, problems: [`event ${row.seq} does not chain`] };
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
    if (last?.state !== record.state) problems.push(`state ${record.state} is not the last logged state (${String(last?.state)})`);
    const logged = new Map<string, string>();
    for (const e of events.filter((x) => x.type === 'artifacts')) {
      for (const a of (e.data as { artifacts: ArtifactRef[] }).artifacts) logged.set(a.key, a.sha256);
    }
    for (const a of record.artifacts) {
      if (logged.get(a.key) !== a.sha256) problems.push(`artifact ${a.key} differs from the logged reference`);
    }
    if (logged.size !== record.artifacts.length) problems.push('artifact references were added or removed outside the log');
    return problems;
  }

  private appendEvent(id: string | null, type: string, data: unknown): void {
    const last = this.db.prepare('SELECT hash FROM events ORDER BY seq DESC LIMIT 1').get() as { hash: string } | undefined;
    const prev = last?.hash ?? GENESIS;
    const ts = new Date().toISOString();
    const payload = JSON.stringify({ backupId: id, ts, type, data });
    this.db
      .prepare('INSERT INTO events (backup_id, ts, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, ts, type, payload, prev, chainHash(prev, payload));
  }

  private toRecord(row: BackupRow): BackupRecord {
    const members = this.db.prepare('SELECT * FROM members WHERE backup_id = ? ORDER BY member').all(row.id) as MemberRow[];
    const artifacts = this.db.prepare('SELECT * FROM artifacts WHERE backup_id = ? ORDER BY key').all(row.id) as ArtifactRow[];
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
      owner: row.owner_pid === null ? null : { pid: row.owner_pid, host: row.owner_host ?? '' },
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
      artifacts: artifacts.map((a) => ({ member: a.member, key: a.key, sha256: a.sha256, bytes: a.bytes, shared: a.shared === 1 })),
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

function notFound(id: string, member?: string): CatalogError {
  return new CatalogError('BACKUP_NOT_FOUND', `No backup ${id}${member ? ` with member ${member}` : ''} in the catalog.`, {
    context: { backupId: id, ...(member ? { member } : {}) },
    hint: 'Run `stillpoint backups list` to see the backup ids, and check --catalog.',
  });
}
