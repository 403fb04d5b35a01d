/**
 * PostgreSQL PITR backup session: prepare takes a base backup unless one exists (./archive.ts) and opens
 * the capture connection; inside the pause, capture only calls `pg_create_restore_point('<backup id>')`;
 * finish and horizon wait until the WAL segment holding that point is archived and list the base backup
 * plus the WAL from its start through that segment. The session owns the capture connection and every
 * pg_basebackup child (killed through its abort signal on close).
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { EngineError } from '../../../errors.ts';
import type {
  BackupSession,
  BackupSessionContext,
  CaptureResult,
  ClockSample,
  EngineCapabilities,
  FinishedMember,
  FinishWindow,
  PreflightCheck,
  RestoreHandle,
} from '../../contract.ts';
import { latestBaseBackup } from '../../base-backups.ts';
import { SessionWork } from '../../session-work.ts';
import { checkToolsAndConnect, connectPostgres, endClient, withAbort } from '../connection.ts';
import { measurePostgresClock } from '../clock.ts';
import { connectionOf, type PostgresOptions } from '../options.ts';
import {
  ensureBaseBackup,
  preflightPitr,
  waitArchived,
  walArtifacts,
  type BaseBackupInfo,
} from './archive.ts';

const ENGINE = 'postgres';
export class PostgresPitrBackup implements BackupSession {
  private pre: pg.Client | undefined;
  private captured: { handle: RestoreHandle & { kind: 'named-point' }; captureMs: number } | undefined;
  private readonly work = new SessionWork(ENGINE);

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: PostgresOptions,
    readonly capabilities: EngineCapabilities,
  ) {}

  preflight(signal: AbortSignal): Promise<readonly PreflightCheck[]> {
    const conn = connectionOf(this.ctx.member);
    return this.work.track(
      checkToolsAndConnect(conn, this.options, ['pg_basebackup', 'pg_ctl'], conn.database, (client) =>
        preflightPitr(this.ctx, client, this.work.signal(signal)),
      ),
    );
  }

  prepare(signal: AbortSignal): Promise<void> {
    return this.work.track(
      (async () => {
        const s = this.work.signal(signal);
        await ensureBaseBackup(this.ctx, this.options, s);
        const conn = connectionOf(this.ctx.member);
        this.pre ??= await connectPostgres(conn, this.options.connectTimeoutMs, conn.database, s);
      })(),
    );
  }

  measureClock(signal: AbortSignal): Promise<ClockSample> {
    return this.work.track(
      measurePostgresClock(connectionOf(this.ctx.member), this.options, this.work.signal(signal)),
    );
  }

  capture(signal: AbortSignal): Promise<CaptureResult> {
    return this.work.track(this.createRestorePoint(this.work.signal(signal)));
  }

  private async createRestorePoint(signal: AbortSignal): Promise<CaptureResult> {
    const started = performance.now();
    const name = this.ctx.backupId.slice(0, 63);
    const query = (client: pg.Client) =>
      withAbort(client, signal, () =>
        client.query<{ lsn: string; tli: number }>(
          'SELECT pg_create_restore_point($1)::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli',
          [name],
        ),
      );
    try {
      const conn = connectionOf(this.ctx.member);
      // The connection opened in prepare saves the pause a connect; if it died meanwhile, connect once more.
      const pre = this.pre;
      this.pre = undefined;
      const r = pre
        ? await query(pre).catch(async (error: unknown) => {
            void endClient(pre, 0);
            if (signal.aborted) throw error;
            return this.once(conn, signal, query);
          })
        : await this.once(conn, signal, query);
      if (pre) this.background(endClient(pre));
      const handle = {
        kind: 'named-point',
        name,
        lsn: r.rows[0]?.lsn ?? '',
        timeline: Number(r.rows[0]?.tli ?? 1),
      } as const;
      this.captured = { handle, captureMs: performance.now() - started };
      return { handle, capturedAtMs: Date.now() };
    } catch (error) {
      throw new EngineError(
        signal.aborted ? 'ABORTED' : 'CAPTURE_FAILED',
        `Could not create restore point ${name}: ${(error as Error).message}`,
        {
          hint: 'The user needs superuser (or EXECUTE on pg_create_restore_point) and wal_level must be replica or logical.',
          context: { engine: ENGINE, member: this.ctx.member.name, backupId: this.ctx.backupId },
          cause: error,
        },
      );
    }
  }

  private async once<T>(
    conn: ReturnType<typeof connectionOf>,
    signal: AbortSignal,
    work: (c: pg.Client) => Promise<T>,
  ): Promise<T> {
    const client = await connectPostgres(conn, this.options.connectTimeoutMs, conn.database, signal);
    try {
      return await work(client);
    } finally {
      await endClient(client);
    }
  }

  finish(_window: FinishWindow, signal: AbortSignal): Promise<FinishedMember> {
    return this.work.track(this.listArtifacts(this.work.signal(signal)));
  }

  private async listArtifacts(signal: AbortSignal): Promise<FinishedMember> {
    const { ctx } = this;
    if (this.captured === undefined) {
      throw new EngineError('FINISH_FAILED', `Member ${ctx.member.name} has no restore point to finish.`, {
        context: { engine: ENGINE, member: ctx.member.name },
      });
    }
    const { handle, captureMs } = this.captured;
    const base = await latestBaseBackup<BaseBackupInfo>(ctx);
    if (base === undefined) {
      throw new EngineError(
        'BASE_BACKUP_MISSING',
        `Member ${ctx.member.name} has no base backup in ${ctx.sharedPrefix}base/.`,
        {
          hint: 'prepare() takes one; run the backup again.',
          context: { engine: ENGINE, member: ctx.member.name },
        },
      );
    }
    const target = await waitArchived(ctx, this.options, handle, signal);
    const wal = await walArtifacts(ctx, base.startWal, target);
    const artifacts = [...base.files, ...wal];
    return {
      handle,
      artifacts,
      bytes: artifacts.reduce((s, a) => s + a.bytes, 0),
      detail: { method: 'pitr', captureMs, base: base.label, walSegments: wal.length },
    };
  }

  discard(): Promise<void> {
    // A restore point needs no release: an unused one costs a WAL record.
    this.captured = undefined;
    return Promise.resolve();
  }

  async horizon(handle: RestoreHandle, signal: AbortSignal): Promise<void> {
    await this.work.track(waitArchived(this.ctx, this.options, handle, this.work.signal(signal)));
  }

  async close(): Promise<void> {
    if (!(await this.work.close())) return;
    const pre = this.pre;
    this.pre = undefined;
    if (pre) await endClient(pre);
  }

  private background(work: Promise<unknown>): void {
    void this.work.track(work.catch(() => undefined));
  }
}
