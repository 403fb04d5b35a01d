/**
 * SQLite snapshot backup session.
 *
 * Capture (inside the pause) opens a read transaction on a dedicated connection prepared before the
 * pause: `BEGIN` plus one read pins the WAL snapshot. That takes microseconds whatever the database's
 * size. After unpause, `finish` copies that snapshot into a fresh file in the system temp dir
 * (./copy-snapshot.ts) and streams it into the artifact store with its sha256; writers keep going meanwhile
 * (WAL readers never block them).
 *
 * The session owns the reader connection and the temp copy; `close()` removes the temp copy (and its
 * journal files) and any partial `snapshot.sqlite.tmp-*` the store left under this backup's prefix, on
 * every path including a failed or abandoned finish.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addAbortSignal } from 'node:stream';
import Database from 'better-sqlite3';
import { EngineError } from '../../../errors.ts';
import type {
  BackupSession,
  BackupSessionContext,
  CaptureResult,
  EngineCapabilities,
  FinishedMember,
  FinishWindow,
  PreflightCheck,
  RestoreHandle,
} from '../../contract.ts';
import { settleSync, throwIfAborted } from '../../settle.ts';
import { SessionWork } from '../../session-work.ts';
import { sqlitePath, type SqliteOptions } from '../options.ts';
import { copySnapshot } from './copy-snapshot.ts';

export const SNAPSHOT_FILE = 'snapshot.sqlite';
/** How long close() waits for an abandoned finish to notice its abort before removing its files. */

export class SqliteSnapshotBackup implements BackupSession {
  private reader: Database.Database | undefined;
  private snapshotOpen = false;
  private readonly temps = new Set<string>();
  /** Aborted by close(): ends a finish still copying or streaming. */
  private readonly work = new SessionWork('sqlite');

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: SqliteOptions,
    readonly capabilities: EngineCapabilities,
  ) {}

  private get path(): string {
    return sqlitePath(this.ctx.member);
  }

  preflight(): Promise<readonly PreflightCheck[]> {
    const path = this.path;
    if (!existsSync(path)) {
      return Promise.resolve([
        {
          name: 'database file',
          ok: false,
          detail: `${path} does not exist`,
          hint: 'Check members[].connection.path in the plan.',
        },
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

  prepare(signal: AbortSignal): Promise<void> {
    return settleSync(() => {
      throwIfAborted(signal, 'sqlite', 'prepare');
      this.reader ??= this.openReader();
    });
  }

  capture(signal: AbortSignal): Promise<CaptureResult> {
    return settleSync(() => this.pinSnapshot(signal));
  }

  private pinSnapshot(signal: AbortSignal): CaptureResult {
    throwIfAborted(signal, 'sqlite', 'capture');
    const db = (this.reader ??= this.openReader());
    try {
      db.exec('BEGIN');
      // The first read starts the read transaction and pins the WAL snapshot.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      this.snapshotOpen = true;
    } catch (cause) {
      this.closeReader();
      throw new EngineError('CAPTURE_FAILED', `Could not open a read snapshot of ${this.path}.`, {
        context: { member: this.ctx.member.name, engine: 'sqlite', backupId: this.ctx.backupId },
        hint: 'Check that the file is readable and not locked exclusively.',
        cause,
      });
    }
    return { handle: this.handle(), capturedAtMs: Date.now() };
  }

  finish(_window: FinishWindow, signal: AbortSignal): Promise<FinishedMember> {
    return this.work.run(signal, (s) => this.copyOut(s));
  }

  private async copyOut(signal: AbortSignal): Promise<FinishedMember> {
    const db = this.reader;
    const { member, backupId } = this.ctx;
    if (db === undefined || !this.snapshotOpen) {
      throw new EngineError('FINISH_FAILED', `Member "${member.name}" has no captured snapshot to finish.`, {
        context: { member: member.name, engine: 'sqlite', backupId },
        hint: 'capture() must succeed before finish(); run the backup again.',
      });
    }
    const temp = join(tmpdir(), `stillpoint-sqlite-${randomBytes(6).toString('hex')}.db`);
    this.temps.add(temp);
    try {
      const stats = await copySnapshot(db, temp, this.options.batchRows, signal);
      this.closeReader();
      throwIfAborted(signal, 'sqlite', 'finish');
      const source = addAbortSignal(signal, createReadStream(temp));
      // The store attaches its listeners after an await; an abort before that must not be an uncaught error.
      source.on('error', () => undefined);
      const ref = await this.ctx.artifacts.put(`${this.ctx.artifactPrefix}${SNAPSHOT_FILE}`, source);
      return {
        handle: { ...this.handle(), detail: { source: this.path, tables: stats.tables, rows: stats.rows } },
        artifacts: [ref],
        bytes: ref.bytes,
        detail: { tables: stats.tables, rows: stats.rows },
      };
    } catch (cause) {
      throw new EngineError(
        signal.aborted ? 'ABORTED' : 'FINISH_FAILED',
        `Could not copy the snapshot of member "${member.name}".`,
        {
          context: { member: member.name, engine: 'sqlite', backupId },
          hint: 'Check free space in the temp directory and the artifact store.',
          cause,
        },
      );
    } finally {
      this.closeReader();
      await removeCopy(temp);
      this.temps.delete(temp);
    }
  }

  discard(): Promise<void> {
    this.closeReader();
    return Promise.resolve();
  }

  horizon(_handle: RestoreHandle, _signal: AbortSignal): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (!(await this.work.close(5_000))) return;
    this.closeReader();
    for (const temp of this.temps) await removeCopy(temp);
    this.temps.clear();
    await this.removePartialArtifacts();
  }

  /** `snapshot.sqlite.tmp-*` left by a put that did not complete (the store renames on success). */
  private async removePartialArtifacts(): Promise<void> {
    const dir = this.ctx.artifacts.localPath(this.ctx.artifactPrefix);
    if (dir === undefined) return;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.startsWith(`${SNAPSHOT_FILE}.tmp-`)))
      await rm(join(dir, name), { force: true }).catch(() => undefined);
  }

  private handle(): RestoreHandle & { kind: 'snapshot' } {
    return { kind: 'snapshot', snapshotId: `${this.ctx.backupId}/${this.ctx.member.name}` };
  }

  private openReader(): Database.Database {
    const path = this.path;
    try {
      const db = new Database(path, { fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      return db;
    } catch (cause) {
      throw new EngineError('CAPTURE_FAILED', `Cannot open ${path}.`, {
        context: { member: this.ctx.member.name, engine: 'sqlite' },
        hint: 'Check members[].connection.path in the plan.',
        cause,
      });
    }
  }

  /** Rolls the read snapshot back and closes the reader; never throws. */
  private closeReader(): void {
    const db = this.reader;
    this.reader = undefined;
    this.snapshotOpen = false;
    if (db === undefined) return;
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch {
      // Closing drops the transaction anyway.
    }
    try {
      db.close();
    } catch {
      // Already closed.
    }
  }
}

async function removeCopy(temp: string): Promise<void> {
  for (const suffix of ['', '-journal', '-wal', '-shm'])
    await rm(`${temp}${suffix}`, { force: true }).catch(() => undefined);
}
