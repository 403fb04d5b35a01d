/**
 * MariaDB/MySQL logical backups with a minimal pause. `prepare` opens `jobs` connections; inside the pause
 * `capture` runs `START TRANSACTION WITH CONSISTENT SNAPSHOT` on each and reads the binlog position of its
 * snapshot (`binlog_snapshot_file`/`_position`). While the group is paused no transaction commits, so the
 * snapshots are identical; equal binlog positions prove it (a connection whose position differs is
 * dropped). After unpause `finish` dumps every table of the member's databases INSIDE those transactions
 * through the client protocol — a stock `mariadb-dump --single-transaction` would open its own, later
 * snapshot. See docs/decisions/0004-dump-strategy.md; the row format is in ./dump-table.ts, restore in
 * ./restore.ts.
 */
import { performance } from 'node:perf_hooks';
import { createGzip } from 'node:zlib';
import { pipeline, type Readable } from 'node:stream';
import type mysql from 'mysql2/promise';
import { EngineError } from '../../../errors.ts';
import type { ArtifactRef } from '../../../artifacts/contract.ts';
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
import {
  abortable,
  closeQuietly,
  connectMariaDb,
  measureClockOn,
  quoteIdent,
  reuseOrConnect,
} from '../connection.ts';
import { connectionOf, databasesOf, METADATA_DATABASE, type MariaDbOptions } from '../options.ts';
import { columnsOf, dumpStatements, streamTable } from './dump-table.ts';
import { DUMP_FORMAT, DUMP_TIME_ZONE, type DumpManifest, type DumpTable } from './manifest.ts';

const ENGINE = 'mariadb';

interface Snapshot {
  readonly holders: readonly mysql.Connection[];
  readonly file: string;
  readonly position: number;
  readonly gtid: string;
  readonly captureMs: number;
  readonly handle: RestoreHandle;
}

async function openSnapshot(conn: mysql.Connection): Promise<{ file: string; position: number }> {
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
  const [rows] = await conn.query<mysql.RowDataPacket[]>(`SHOW STATUS LIKE 'binlog_snapshot_%'`);
  const value = (name: string): string =>
    String(rows.find((r) => String(r.Variable_name).toLowerCase() === name)?.Value ?? '');
  return { file: value('binlog_snapshot_file'), position: Number(value('binlog_snapshot_position')) };
}

/** One logical member in one backup: owns the pre-opened connections and the snapshot holders. */
export class LogicalBackup implements BackupSession {
  private pre: mysql.Connection[] = [];
  private snapshot: Snapshot | undefined;
  /** Every connection this session opened and has not closed yet: `close` ends them all. */
  private readonly open = new Set<mysql.Connection>();
  private closed = false;
  /** Row streams of the dump in progress: destroyed when the dump is given up, so their files are removed. */
  private readonly streams = new Set<Readable>();

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: MariaDbOptions,
    readonly capabilities: EngineCapabilities,
  ) {}

  private async connect(signal?: AbortSignal): Promise<mysql.Connection> {
    signal?.throwIfAborted();
    if (this.closed)
      throw new EngineError('SESSION_CLOSED', 'The backup session is closed.', {
        context: { engine: ENGINE, member: this.ctx.member.name },
      });
    const c = await connectMariaDb(connectionOf(this.ctx.member), this.options.connectTimeoutMs);
    this.open.add(c);
    if (this.closed) {
      // Closed while connecting: the connection must not outlive the session.
      await this.release([c]);
      throw new EngineError('SESSION_CLOSED', 'The backup session is closed.', {
        context: { engine: ENGINE, member: this.ctx.member.name },
      });
    }
    return c;
  }

  private async release(list: readonly mysql.Connection[]): Promise<void> {
    await Promise.all(list.map((c) => (this.open.delete(c), closeQuietly(c))));
  }

  async preflight(signal: AbortSignal): Promise<readonly PreflightCheck[]> {
    const conn = connectionOf(this.ctx.member);
    let c: mysql.Connection;
    try {
      c = await this.connect(signal);
    } catch (error) {
      return [
        {
          name: 'connect',
          ok: false,
          detail: (error as Error).message,
          hint: 'Check host, port, user and password of the member.',
        },
      ];
    }
    try {
      const [v] = await c.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v, @@log_bin AS log_bin');
      const checks: PreflightCheck[] = [
        { name: 'connect', ok: true, detail: `MariaDB ${String(v[0]?.v)} at ${conn.host}:${conn.port}` },
      ];
      if (Number(v[0]?.log_bin) !== 1) {
        checks.push({
          name: 'log_bin',
          ok: false,
          detail: 'binary log disabled',
          hint: "Start the server with --log-bin: the snapshot's binlog position is recorded with every backup.",
        });
      }
      return checks;
    } finally {
      await this.release([c]);
    }
  }

  async prepare(signal: AbortSignal): Promise<void> {
    await this.release(this.pre);
    this.pre = await Promise.all(Array.from({ length: this.options.jobs }, () => this.connect(signal)));
  }

  async measureClock(signal: AbortSignal): Promise<ClockSample> {
    const c = await this.connect(signal);
    try {
      return await measureClockOn(c);
    } finally {
      await this.release([c]);
    }
  }

  /** Opens `jobs` identical snapshots (inside the pause); the session holds them until finish or discard. */
  async capture(signal: AbortSignal): Promise<CaptureResult> {
    await this.discard();
    const pre = this.pre;
    // Given up by the orchestrator (capture deadline, abort): drop every connection, so nothing stays stuck
    // on a dead path (the pre-opened connections' liveness checks included).
    return abortable(
      signal,
      () => this.captureSnapshots(pre, signal),
      () => {
        for (const c of [...pre, ...this.open]) c.destroy();
      },
      'The capture',
    );
  }

  private async captureSnapshots(pre: mysql.Connection[], signal: AbortSignal): Promise<CaptureResult> {
    const started = performance.now();
    this.pre = [];
    const conns = await Promise.all(
      Array.from({ length: this.options.jobs }, (_, i) =>
        reuseOrConnect(pre[i], () => this.connect(signal)).catch((e: unknown) => e as Error),
      ),
    );
    // A pre-opened connection found dead was destroyed by reuseOrConnect: no longer ours to close.
    for (const c of pre) if (!conns.includes(c)) this.open.delete(c);
    const open = conns.filter((c): c is mysql.Connection => !(c instanceof Error));
    if (open.length === 0 || open.length < conns.length) {
      await this.release(open);
      throw (
        conns.find((c) => c instanceof Error) ??
        new EngineError('CAPTURE_FAILED', 'No connection.', { context: { engine: ENGINE } })
      );
    }
    let holders: mysql.Connection[];
    let position: { file: string; position: number };
    let gtid: string;
    try {
      signal.throwIfAborted();
      const positions = await Promise.all(open.map(openSnapshot));
      position = positions[0]!;
      holders = open.filter(
        (_, i) => positions[i]!.file === position.file && positions[i]!.position === position.position,
      );
      await this.release(open.filter((c) => !holders.includes(c)));
      const [g] = await holders[0]!.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS gtid');
      gtid = String(g[0]?.gtid ?? '');
    } catch (error) {
      await this.release(open);
      throw new EngineError(
        'CAPTURE_FAILED',
        `Could not open a consistent snapshot: ${(error as Error).message}`,
        {
          hint: 'The binary log must be enabled (log_bin) so the snapshot has a binlog position; the user needs RELOAD or BINLOG MONITOR for SHOW STATUS.',
          context: { engine: ENGINE, member: this.ctx.member.name, backupId: this.ctx.backupId },
          cause: error,
        },
      );
    }
    const captureMs = performance.now() - started;
    if (position.file === '') {
      await this.release(holders);
      throw new EngineError('BINLOG_DISABLED', 'The server reports no binlog position for the snapshot.', {
        hint: 'Enable the binary log (log_bin) on the server; the snapshot position is the backup handle.',
        context: { engine: ENGINE, member: this.ctx.member.name },
      });
    }
    const handle: RestoreHandle = {
      kind: 'snapshot',
      snapshotId: `${position.file}:${position.position}`,
      detail: { binlogFile: position.file, binlogPosition: position.position, gtid, captureMs },
    };
    this.snapshot = { holders, ...position, gtid, captureMs, handle };
    return { handle, capturedAtMs: Date.now() };
  }

  async finish(_window: FinishWindow, signal: AbortSignal): Promise<FinishedMember> {
    const snap = this.snapshot;
    if (snap === undefined)
      throw new EngineError('CAPTURE_MISSING', 'finish() without a capture.', {
        context: { engine: ENGINE, member: this.ctx.member.name },
      });
    try {
      const dumped = await this.dumpGuarded(snap, signal);
      return {
        handle: snap.handle,
        ...dumped,
        detail: { ...dumped.detail, captureMs: snap.captureMs, connections: snap.holders.length },
      };
    } finally {
      await this.discard();
    }
  }

  async discard(): Promise<void> {
    const snap = this.snapshot;
    this.snapshot = undefined;
    if (snap !== undefined) await this.release(snap.holders).catch(() => undefined);
  }

  async horizon(): Promise<void> {
    // A snapshot dump is restorable as soon as finish wrote it.
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const stream of this.streams)
      stream.destroy(
        new EngineError('SESSION_CLOSED', 'The backup session was closed.', { context: { engine: ENGINE } }),
      );
    this.snapshot = undefined;
    this.pre = [];
    await this.release([...this.open]).catch(() => undefined);
  }

  /**
   * The dump, failed fast when it makes no progress (no query answered, no row read) for `dumpStallMs` or
   * the signal aborts: a path gone silent otherwise hangs it forever (mysql2 has no read timeout), while a
   * long table must not be cut short. The holders are dropped then; their pending queries never settle
   * (mysql2 does not reject them on destroy), so the guard rejects in their place.
   */
  private async dumpGuarded(snap: Snapshot, signal: AbortSignal): Promise<Omit<FinishedMember, 'handle'>> {
    const stallMs = this.options.dumpStallMs;
    let progress = 0;
    let seen = -1;
    let fail: (error: Error) => void = () => undefined;
    const guard = new Promise<never>((_, reject) => (fail = reject));
    const stop = (error: Error): void => {
      for (const c of snap.holders) c.destroy();
      for (const stream of this.streams) stream.destroy(error);
      fail(error);
    };
    // Polled, not re-armed per row: re-arming a timer per row cost ~10% of the dump's CPU.
    const timer = setInterval(
      () => {
        if (progress === seen) {
          stop(
            new EngineError(
              'DUMP_STALLED',
              `The dump of ${this.ctx.member.name} made no progress for ${stallMs} ms; its connections were dropped.`,
              {
                hint: 'Check the network path to the database server and the server itself, then take the backup again.',
                context: { engine: ENGINE, member: this.ctx.member.name },
              },
            ),
          );
        }
        seen = progress;
      },
      Math.max(50, Math.floor(stallMs / 2)),
    );
    const onAbort = (): void =>
      stop(
        new EngineError('ABORTED', 'The dump was aborted.', {
          context: { engine: ENGINE, member: this.ctx.member.name },
        }),
      );
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    const dump = this.dump(snap, () => progress++);
    dump.catch(() => undefined);
    try {
      return await Promise.race([dump, guard]);
    } finally {
      clearInterval(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async dump(snap: Snapshot, touch: () => void): Promise<Omit<FinishedMember, 'handle'>> {
    const { ctx, options } = this;
    const started = performance.now();
    const main = snap.holders[0]!;
    // A predictable session for the dump: backquoted SHOW CREATE, TIMESTAMPs in UTC (restore reads them back in UTC).
    await Promise.all(
      snap.holders.map((c) => c.query(`SET SESSION sql_mode = '', time_zone = '${DUMP_TIME_ZONE}'`)),
    );
    touch();
    const databases: DumpManifest['databases'][number][] = [];
    const work: Array<(conn: mysql.Connection) => Promise<ArtifactRef>> = [];
    for (const db of await this.databasesToDump(main)) {
      const [createDb] = await main
        .query<mysql.RowDataPacket[]>(`SHOW CREATE DATABASE ${quoteIdent(db)}`)
        .catch((error: unknown) => {
          throw new EngineError('DATABASE_MISSING', `Database ${db} does not exist on the member.`, {
            hint: 'Fix the member namespaces or options.databases.',
            context: { engine: ENGINE, member: ctx.member.name },
            cause: error,
          });
        });
      const [tables] = await main.query<mysql.RowDataPacket[]>(
        `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name`,
        [db],
      );
      const columns = await columnsOf(main, db);
      touch();
      const entry = {
        name: db,
        createDatabase: String(createDb[0]?.['Create Database'] ?? ''),
        tables: [] as DumpTable[],
      };
      databases.push(entry);
      for (const row of tables) {
        const table = String(row.t);
        const [create] = await main.query<mysql.RowDataPacket[]>(
          `SHOW CREATE TABLE ${quoteIdent(db)}.${quoteIdent(table)}`,
        );
        touch();
        const item: DumpTable = {
          name: table,
          create: String(create[0]?.['Create Table'] ?? ''),
          rows: 0,
          key: `${ctx.artifactPrefix}${db}/${table}.sql${options.gzip ? '.gz' : ''}`,
        };
        entry.tables.push(item);
        const statements = dumpStatements(db, table, columns.get(table) ?? []);
        work.push(async (conn) => {
          const lines = streamTable(conn, statements, options.batchBytes, (n) => ((item.rows += n), touch()));
          this.streams.add(lines);
          try {
            const ref = await ctx.artifacts.put(
              item.key,
              options.gzip ? pipeline(lines, createGzip({ level: 1 }), () => undefined) : lines,
            );
            touch();
            return ref;
          } finally {
            this.streams.delete(lines);
          }
        });
      }
    }
    const artifacts = await runPool(work, snap.holders);
    const manifest: DumpManifest = {
      format: DUMP_FORMAT,
      binlogFile: snap.file,
      binlogPosition: snap.position,
      gtid: snap.gtid,
      timeZone: DUMP_TIME_ZONE,
      databases,
    };
    artifacts.push(
      await ctx.artifacts.put(`${ctx.artifactPrefix}manifest.json`, JSON.stringify(manifest, null, 2)),
    );
    await Promise.all(snap.holders.map((c) => c.query('COMMIT')));
    return {
      artifacts,
      bytes: artifacts.reduce((s, a) => s + a.bytes, 0),
      detail: { method: 'logical', dumpMs: performance.now() - started, tables: work.length },
    };
  }

  /**
   * The member's databases, plus ScalarDB's table catalog (`scalardb`) when the server has one: without it
   * the transaction layer cannot list the restored tables (and the checker cannot check them).
   */
  private async databasesToDump(main: mysql.Connection): Promise<string[]> {
    const listed = [...databasesOf(this.ctx.member, this.options)];
    if (this.options.databases !== undefined || listed.includes(METADATA_DATABASE)) return listed;
    const [rows] = await main.query<mysql.RowDataPacket[]>(
      'SELECT 1 FROM information_schema.schemata WHERE schema_name = ?',
      [METADATA_DATABASE],
    );
    return rows.length > 0 ? [...listed, METADATA_DATABASE] : listed;
  }
}

/** Each connection takes the next table; every connection holds the same snapshot. One failure fails all. */
async function runPool(
  work: ReadonlyArray<(conn: mysql.Connection) => Promise<ArtifactRef>>,
  holders: readonly mysql.Connection[],
): Promise<ArtifactRef[]> {
  const results: ArtifactRef[] = [];
  let next = 0;
  const lane = async (conn: mysql.Connection): Promise<void> => {
    while (next < work.length) results.push(await work[next++]!(conn));
  };
  await Promise.all(holders.map(lane));
  return results;
}
