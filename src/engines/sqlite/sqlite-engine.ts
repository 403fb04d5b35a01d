/**
 * The SQLite backup engine (the embedded default, and the demo's).
 *
 * Capture (inside the pause) opens a read transaction on a dedicated connection prepared before the
 * pause: `BEGIN` plus one read pins the WAL snapshot. That takes microseconds whatever the database's
 * size. After unpause, `finish` copies that snapshot into a fresh file (./sqlite-snapshot.ts) and streams
 * it into the artifact store with its sha256; writers keep going meanwhile (WAL readers never block them).
 *
 * Restore writes the artifact to a temp file next to the target and renames it into place, then writes a
 * marker `<path>.stillpoint-restore.json`; a re-run after a crash finds either no target, or its own
 * marker (same backup, same sha256) and overwrites it — anything else needs `force`.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { ConfigError, EngineError } from '../../errors.ts';
import type {
  Engine,
  EngineCapabilities,
  FinishedMember,
  FinishWindow,
  MemberCapture,
  MemberRecord,
  MemberSpec,
  PhaseContext,
  PreflightCheck,
  RestoreContext,
  RestoredMember,
  RestoreHandle,
  RestoreStep,
  RestoreTarget,
} from '../contract.ts';
import { copySnapshot } from './sqlite-snapshot.ts';
import { parseSqliteOptions } from './sqlite-options.ts';

const CAPABILITIES: EngineCapabilities = Object.freeze({
  handleKinds: ['snapshot'] as const,
  atomicCapture: true,
  snapshotInsidePause: true,
  clockBased: false,
  restoreIntoNewNameOnly: false,
  horizonWait: false,
});

const SNAPSHOT_FILE = 'snapshot.sqlite';

/** Creates the SQLite engine. Connections prepared before a pause are kept per backup and member. */
export function createSqliteEngine(): Engine {
  return new SqliteEngine();
}

class SqliteEngine implements Engine {
  readonly kind = 'sqlite';
  readonly capabilities = CAPABILITIES;
  private readonly prepared = new Map<string, Database.Database>();

  validateOptions(member: MemberSpec): void {
    parseSqliteOptions(member);
  }

  preflight(ctx: PhaseContext): Promise<readonly PreflightCheck[]> {
    const path = sqlitePath(ctx.member);
    if (!existsSync(path)) {
      return Promise.resolve([
        { name: 'database file', ok: false, detail: `${path} does not exist`, hint: 'Check members[].connection.path in the plan.' },
      ]);
    }
    const checks: PreflightCheck[] = [{ name: 'database file', ok: true, detail: path }];
    try {
      const db = new Database(path, { readonly: true, fileMustExist: true });
      try {
        const mode = String(db.pragma('journal_mode', { simple: true }));
        checks.push(
          mode.toLowerCase() === 'wal'
            ? { name: 'journal mode', ok: true, detail: 'wal' }
            : {
                name: 'journal mode',
                ok: false,
                detail: mode,
                hint: 'Switch the database to WAL (`PRAGMA journal_mode=WAL`): a read snapshot in rollback mode would block writers until the copy ends.',
              },
        );
      } finally {
        db.close();
      }
    } catch (error) {
      checks.push({ name: 'open', ok: false, detail: String(error), hint: 'Check file permissions.' });
    }
    return Promise.resolve(checks);
  }

  prepare(ctx: PhaseContext): Promise<void> {
    const key = preparedKey(ctx);
    if (!this.prepared.has(key)) this.prepared.set(key, openReader(ctx.member));
    return Promise.resolve();
  }

  capture(ctx: PhaseContext): Promise<MemberCapture> {
    const key = preparedKey(ctx);
    const db = this.prepared.get(key) ?? openReader(ctx.member);
    this.prepared.delete(key);
    try {
      db.exec('BEGIN');
      // The first read starts the read transaction and pins the WAL snapshot.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (cause) {
      db.close();
      throw new EngineError('CAPTURE_FAILED', `Could not open a read snapshot of ${sqlitePath(ctx.member)}.`, {
        context: { member: ctx.member.name, engine: 'sqlite', backupId: ctx.backupId },
        hint: 'Check that the file is readable and not locked exclusively.',
        cause,
      });
    }
    return Promise.resolve(new SqliteCapture(db, ctx.backupId, ctx.member.name, Date.now()));
  }

  horizon(): Promise<void> {
    return Promise.resolve();
  }

  parseRestoreTarget(record: MemberRecord, target: RestoreTarget | undefined): RestoreTarget {
    const name = record.member.name;
    if (target !== undefined && typeof target.path === 'string') return { path: resolve(target.path) };
    if (target !== undefined && typeof target.intoDir === 'string') return { path: resolve(target.intoDir, `${name}.db`) };
    if (target !== undefined && Object.keys(target).length > 0) {
      throw new ConfigError('RESTORE_TARGET_INVALID', `Restore target for member "${name}" needs "path" (a file) or "intoDir".`, {
        context: { member: name, engine: 'sqlite' },
        hint: `Use --target ${name}='{"path":"/new/${name}.db"}' or --into DIR.`,
      });
    }
    const source = sqlitePath(record.member);
    return { path: join(dirname(source), `${basename(source, '.db')}.restored-${record.backupId}.db`) };
  }

  planRestore(ctx: RestoreContext): Promise<readonly RestoreStep[]> {
    const path = targetPath(ctx);
    const artifact = snapshotArtifact(ctx);
    const exists = existsSync(path) && statSync(path).size > 0;
    return Promise.resolve([
      { title: `verify sha256 of ${artifact.key}`, detail: artifact.sha256, destructive: false },
      { title: `copy snapshot to a temp file next to ${path}`, destructive: false },
      {
        title: `${exists ? 'replace' : 'create'} ${path} (rename, then remove stale -wal/-shm)`,
        destructive: exists,
      },
    ]);
  }

  async restore(ctx: RestoreContext): Promise<RestoredMember> {
    const path = targetPath(ctx);
    const artifact = snapshotArtifact(ctx);
    const marker = `${path}.stillpoint-restore.json`;
    await this.refuseNonEmpty(ctx, path, marker, artifact.sha256);
    if (!(await ctx.artifacts.verify(artifact))) {
      throw new EngineError('ARTIFACT_CHECKSUM_MISMATCH', `Artifact ${artifact.key} does not match its sha256.`, {
        context: { member: ctx.record.member.name, engine: 'sqlite', backupId: ctx.record.backupId, key: artifact.key },
        hint: 'The backup is damaged; restore another backup.',
      });
    }
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.restoring-${randomBytes(4).toString('hex')}`;
    try {
      await pipeline(await ctx.artifacts.get(artifact.key), createWriteStream(temp));
      await rm(`${path}-wal`, { force: true });
      await rm(`${path}-shm`, { force: true });
      await rename(temp, path);
    } finally {
      await rm(temp, { force: true });
    }
    await writeFile(marker, JSON.stringify({ backupId: ctx.record.backupId, sha256: artifact.sha256 }));
    return { connection: { kind: 'sqlite', path } };
  }

  private async refuseNonEmpty(ctx: RestoreContext, path: string, marker: string, sha256: string): Promise<void> {
    if (!existsSync(path) || statSync(path).size === 0 || ctx.force) return;
    const ours = await readFile(marker, 'utf8')
      .then((t) => JSON.parse(t) as { backupId?: string; sha256?: string })
      .catch(() => undefined);
    if (ours?.backupId === ctx.record.backupId && ours.sha256 === sha256) return;
    throw new ConfigError('RESTORE_TARGET_NOT_EMPTY', `Restore target ${path} exists and is not empty.`, {
      context: { member: ctx.record.member.name, engine: 'sqlite', backupId: ctx.record.backupId },
      hint: 'Restore into a new path (--into DIR), or pass --force to overwrite it.',
    });
  }
}

class SqliteCapture implements MemberCapture {
  readonly handle: RestoreHandle & { kind: 'snapshot' };
  private released = false;

  constructor(
    private readonly db: Database.Database,
    backupId: string,
    member: string,
    readonly capturedAtMs: number,
  ) {
    this.handle = { kind: 'snapshot', snapshotId: `${backupId}/${member}` };
  }

  async finish(ctx: PhaseContext, _window: FinishWindow): Promise<FinishedMember> {
    const { batchRows } = parseSqliteOptions(ctx.member);
    const temp = join(tmpdir(), `stillpoint-sqlite-${randomBytes(6).toString('hex')}.db`);
    try {
      const stats = await copySnapshot(this.db, temp, batchRows, ctx.signal);
      await this.release();
      const ref = await ctx.artifacts.put(`${ctx.artifactPrefix}${SNAPSHOT_FILE}`, createReadStream(temp));
      return {
        handle: { ...this.handle, detail: { source: sqlitePath(ctx.member), tables: stats.tables, rows: stats.rows } },
        artifacts: [ref],
        bytes: ref.bytes,
        detail: { tables: stats.tables, rows: stats.rows },
      };
    } catch (cause) {
      throw new EngineError('FINISH_FAILED', `Could not copy the snapshot of member "${ctx.member.name}".`, {
        context: { member: ctx.member.name, engine: 'sqlite', backupId: ctx.backupId },
        hint: 'Check free space in the temp directory and the artifact store.',
        cause,
      });
    } finally {
      await this.release();
      await rm(temp, { force: true });
      await rm(`${temp}-journal`, { force: true });
      await rm(`${temp}-wal`, { force: true });
      await rm(`${temp}-shm`, { force: true });
    }
  }

  release(): Promise<void> {
    if (this.released) return Promise.resolve();
    this.released = true;
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } catch {
      // Closing drops the transaction anyway.
    }
    try {
      this.db.close();
    } catch {
      // Already closed: release never throws.
    }
    return Promise.resolve();
  }
}

function openReader(member: MemberSpec): Database.Database {
  const path = sqlitePath(member);
  try {
    const db = new Database(path, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (cause) {
    throw new EngineError('CAPTURE_FAILED', `Cannot open ${path}.`, {
      context: { member: member.name, engine: 'sqlite' },
      hint: 'Check members[].connection.path in the plan.',
      cause,
    });
  }
}

function sqlitePath(member: MemberSpec): string {
  if (member.connection.kind !== 'sqlite') parseSqliteOptions(member); // throws ENGINE_OPTIONS_INVALID
  return (member.connection as { path: string }).path;
}

function preparedKey(ctx: PhaseContext): string {
  return `${ctx.backupId}/${ctx.member.name}`;
}

function targetPath(ctx: RestoreContext): string {
  const path = ctx.target.path;
  if (typeof path !== 'string') {
    throw new ConfigError('RESTORE_TARGET_INVALID', `No restore path for member "${ctx.record.member.name}".`, {
      context: { member: ctx.record.member.name, engine: 'sqlite' },
      hint: 'Pass the target through parseRestoreTarget first.',
    });
  }
  return path;
}

function snapshotArtifact(ctx: RestoreContext) {
  const found = ctx.record.artifacts.find((a) => a.key.endsWith(`/${SNAPSHOT_FILE}`));
  if (found === undefined) {
    throw new EngineError('ARTIFACT_MISSING', `Backup ${ctx.record.backupId} has no snapshot for member "${ctx.record.member.name}".`, {
      context: { member: ctx.record.member.name, engine: 'sqlite', backupId: ctx.record.backupId },
      hint: 'Only complete backups can be restored; see `stillpoint backups show <id>`.',
    });
  }
  return found;
}
