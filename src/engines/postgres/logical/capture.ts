/**
 * PostgreSQL logical backup session, with a minimal pause. Inside the pause a dedicated connection (opened
 * in prepare) starts a REPEATABLE READ transaction and exports its snapshot (milliseconds, whatever the
 * size of the data). After unpause `pg_dump --snapshot=<id>` copies exactly that snapshot, in parallel in
 * the directory format, while the exporting transaction stays open; then the transaction ends.
 *
 * The session owns the exporting connection and the pg_dump children (killed through the abort signal on
 * close), and removes a partial dump it wrote when the backup does not finish.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { ArtifactRef } from '../../../artifacts/contract.ts';
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
import { graceful } from '../../settle.ts';
import { SessionWork } from '../../session-work.ts';
import { runTool, spawnTool, waitTool } from '../../tool-runner.ts';
import { measurePostgresClock } from '../clock.ts';
import {
  checkToolsAndConnect,
  connectPostgres,
  endClient,
  pgTool,
  toolEnv,
  withAbort,
} from '../connection.ts';
import { connectionOf, type PostgresConnection, type PostgresOptions } from '../options.ts';

const ENGINE = 'postgres';
/** How long ending the exporter waits for the server's answer to ROLLBACK before dropping the connection. */
const RELEASE_GRACE_MS = 5_000;
interface Exported {
  readonly client: pg.Client;
  readonly snapshotId: string;
  readonly handle: RestoreHandle & { kind: 'snapshot' };
  readonly captureMs: number;
  readonly lsn: string;
}

export class PostgresLogicalBackup implements BackupSession {
  private pre: pg.Client | undefined;
  private exported: Exported | undefined;
  private readonly work = new SessionWork(ENGINE);
  private dumpWritten = false;
  private finished = false;

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: PostgresOptions,
    readonly capabilities: EngineCapabilities,
  ) {}

  private get conn(): PostgresConnection {
    return connectionOf(this.ctx.member);
  }

  private get database(): string {
    return this.options.database ?? this.conn.database;
  }

  preflight(_signal: AbortSignal): Promise<readonly PreflightCheck[]> {
    return this.work.track(
      checkToolsAndConnect(this.conn, this.options, ['pg_dump', 'pg_restore'], this.database),
    );
  }

  prepare(signal: AbortSignal): Promise<void> {
    return this.work.track(
      (async () => {
        this.pre ??= await connectPostgres(
          this.conn,
          this.options.connectTimeoutMs,
          this.database,
          this.work.signal(signal),
        );
      })(),
    );
  }

  measureClock(signal: AbortSignal): Promise<ClockSample> {
    return this.work.track(measurePostgresClock(this.conn, this.options, this.work.signal(signal)));
  }

  capture(signal: AbortSignal): Promise<CaptureResult> {
    return this.work.track(this.exportSnapshot(this.work.signal(signal)));
  }

  private async exportSnapshot(signal: AbortSignal): Promise<CaptureResult> {
    const started = performance.now();
    const exportOn = (client: pg.Client) =>
      withAbort(client, signal, async () => {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const r = await client.query<{ snapshot: string; lsn: string }>(
          'SELECT pg_export_snapshot() AS snapshot, pg_current_wal_lsn()::text AS lsn',
        );
        return { client, snapshotId: r.rows[0]?.snapshot ?? '', lsn: r.rows[0]?.lsn ?? '' };
      });
    const pre = this.pre;
    this.pre = undefined;
    let fresh: pg.Client | undefined;
    try {
      // The connection opened in prepare saves the pause a connect; if it died meanwhile, connect once more.
      const got = pre
        ? await exportOn(pre).catch(async (error: unknown) => {
            void endClient(pre, 0);
            if (signal.aborted) throw error;
            fresh = await connectPostgres(this.conn, this.options.connectTimeoutMs, this.database, signal);
            return exportOn(fresh);
          })
        : await exportOn(
            (fresh = await connectPostgres(this.conn, this.options.connectTimeoutMs, this.database, signal)),
          );
      const captureMs = performance.now() - started;
      const handle = {
        kind: 'snapshot',
        snapshotId: got.snapshotId,
        detail: { lsn: got.lsn, database: this.database, captureMs },
      } as const;
      this.exported = { ...got, handle, captureMs };
      return { handle, capturedAtMs: Date.now() };
    } catch (error) {
      if (fresh) await endClient(fresh, 0);
      throw new EngineError(
        signal.aborted ? 'ABORTED' : 'CAPTURE_FAILED',
        `Could not export a snapshot of ${this.database}: ${(error as Error).message}`,
        {
          hint: 'The user needs CONNECT on the database; a standby cannot export snapshots of a primary.',
          context: { engine: ENGINE, member: this.ctx.member.name, backupId: this.ctx.backupId },
          cause: error,
        },
      );
    }
  }

  finish(_window: FinishWindow, signal: AbortSignal): Promise<FinishedMember> {
    return this.work.track(this.dump(this.work.signal(signal)));
  }

  private async dump(signal: AbortSignal): Promise<FinishedMember> {
    const exported = this.exported;
    if (exported === undefined) {
      throw new EngineError(
        'FINISH_FAILED',
        `Member ${this.ctx.member.name} has no exported snapshot to dump.`,
        { context: { engine: ENGINE, member: this.ctx.member.name } },
      );
    }
    try {
      const dumped = await this.dumpSnapshot(exported, signal);
      await withAbort(exported.client, signal, () => exported.client.query('COMMIT'));
      this.finished = true;
      return {
        handle: exported.handle,
        ...dumped,
        detail: { ...dumped.detail, captureMs: exported.captureMs, lsn: exported.lsn },
      };
    } finally {
      await this.releaseExport(signal.aborted);
    }
  }

  private async dumpSnapshot(
    exported: Exported,
    signal: AbortSignal,
  ): Promise<Omit<FinishedMember, 'handle'>> {
    const { ctx, options } = this;
    const started = performance.now();
    const dirKey = `${ctx.artifactPrefix}dump`;
    const localDir = ctx.artifacts.localPath(dirKey);
    const format = options.format === 'directory' && localDir !== undefined ? 'directory' : 'custom';
    if (format !== options.format)
      ctx.log.warn('artifact store has no local path; using the custom format', { member: ctx.member.name });
    const common = [
      '--snapshot',
      exported.snapshotId,
      ...(options.compress === undefined ? [] : ['-Z', String(options.compress)]),
      '-d',
      this.database,
    ];
    const env = toolEnv(this.conn, this.database);
    const pgDump = pgTool('pg_dump', options.binDir);
    // Keep the exporter alive: an idle-session timeout on the server must not end the snapshot mid-dump.
    const keepAlive = setInterval(() => void exported.client.query('SELECT 1').catch(() => {}), 30_000);
    let artifacts: ArtifactRef[];
    try {
      this.dumpWritten = true;
      if (format === 'directory' && localDir !== undefined) {
        await mkdir(dirname(localDir), { recursive: true, mode: 0o700 });
        await runTool(pgDump, ['-F', 'd', '-j', String(options.jobs), '-f', localDir, ...common], {
          env,
          signal,
          engine: ENGINE,
        });
        artifacts = [];
        for (const name of (await readdir(localDir)).sort())
          artifacts.push(await ctx.artifacts.adopt(`${dirKey}/${name}`, false));
      } else {
        const args = ['-F', 'c', ...common];
        const child = spawnTool(pgDump, args, { env });
        const [ref] = await Promise.all([
          ctx.artifacts.put(`${ctx.artifactPrefix}dump.pgcustom`, child.stdout!),
          waitTool(child, pgDump, args, { env, signal, engine: ENGINE, stdoutTaken: true }),
        ]);
        artifacts = [ref];
      }
    } finally {
      clearInterval(keepAlive);
    }
    const bytes = artifacts.reduce((sum, a) => sum + a.bytes, 0);
    return {
      artifacts,
      bytes,
      detail: {
        method: 'logical',
        format,
        jobs: options.jobs,
        database: this.database,
        dumpMs: performance.now() - started,
      },
    };
  }

  /** Ends the exporting transaction; ending the session rolls the snapshot back anyway, so this never hangs. */
  private async releaseExport(aborted = false): Promise<void> {
    const exported = this.exported;
    this.exported = undefined;
    if (exported === undefined) return;
    // Aborted (deadline, close): the path may be dead; dropping the socket rolls back just the same.
    const polite = !aborted && !this.work.closeSignal.aborted;
    if (polite)
      await graceful(
        exported.client.query('ROLLBACK').catch(() => {}),
        RELEASE_GRACE_MS,
      );
    await endClient(exported.client, polite ? 2_000 : 0);
  }

  discard(): Promise<void> {
    return this.releaseExport().catch(() => undefined);
  }

  horizon(_handle: RestoreHandle, _signal: AbortSignal): Promise<void> {
    return Promise.resolve(); // a dumped snapshot is restorable as soon as finish returns
  }

  async close(): Promise<void> {
    if (!(await this.work.close())) return;
    await this.releaseExport().catch(() => undefined);
    const pre = this.pre;
    this.pre = undefined;
    if (pre) await endClient(pre);
    if (this.dumpWritten && !this.finished) await this.removePartialDump();
  }

  /** A dump that did not finish is not referenced by any record: remove it (directory or custom-format temp). */
  private async removePartialDump(): Promise<void> {
    const dir = this.ctx.artifacts.localPath(`${this.ctx.artifactPrefix}dump`);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    const parent = this.ctx.artifacts.localPath(this.ctx.artifactPrefix);
    if (parent === undefined) return;
    for (const name of await readdir(parent).catch(() => [] as string[])) {
      if (name.startsWith('dump.pgcustom'))
        await rm(`${parent}/${name}`, { force: true }).catch(() => undefined);
    }
  }
}
