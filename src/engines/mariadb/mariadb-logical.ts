/**
 * MariaDB/MySQL logical backups with a minimal pause. Inside the pause, `jobs` connections each run
 * `START TRANSACTION WITH CONSISTENT SNAPSHOT` and read the binlog position of their snapshot
 * (`binlog_snapshot_file`/`_position`). While the group is paused no transaction commits, so the snapshots
 * are identical; equal binlog positions prove it (a connection whose position differs is dropped). After
 * unpause every table of the group's databases is dumped INSIDE those transactions through the client
 * protocol — a stock `mariadb-dump --single-transaction` would open its own, later snapshot.
 * See docs/decisions/0004-dump-strategy.md. Restore lives in ./mariadb-logical-restore.ts.
 */
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type mysql from 'mysql2/promise';
import { EngineError } from '../../errors.ts';
import type { ArtifactRef } from '../../artifacts/contract.ts';
import type { FinishedMember, MemberCapture, PhaseContext, RestoreHandle } from '../contract.ts';
import { connectMariaDb, quoteIdent, reuseOrConnect } from './mariadb-connection.ts';
import { graceful } from '../connection-stash.ts';
import { connectionOf, databasesOf, type MariaDbOptions } from './mariadb-options.ts';

const ENGINE = 'mariadb';
/** ScalarDB keeps its table catalog in this namespace (a database on MySQL/MariaDB). */
const METADATA_DATABASE = 'scalardb';

/** The dump's table of contents (`manifest.json`): everything restore needs besides the row files. */
export interface DumpManifest {
  readonly format: 'stillpoint-mariadb-dump/1';
  readonly binlogFile: string;
  readonly binlogPosition: number;
  readonly gtid: string;
  readonly databases: ReadonlyArray<{
    readonly name: string;
    readonly createDatabase: string;
    readonly tables: ReadonlyArray<{ readonly name: string; readonly create: string; readonly rows: number; readonly key: string }>;
  }>;
}

/** How long closing a connection waits for the server's answer before dropping the socket. */
const RELEASE_GRACE_MS = 5_000;

interface SnapshotPosition {
  readonly file: string;
  readonly position: number;
}

async function openSnapshot(conn: mysql.Connection): Promise<SnapshotPosition> {
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
  const [rows] = await conn.query<mysql.RowDataPacket[]>(`SHOW STATUS LIKE 'binlog_snapshot_%'`);
  const value = (name: string): string => String(rows.find((r) => String(r.Variable_name).toLowerCase() === name)?.Value ?? '');
  return { file: value('binlog_snapshot_file'), position: Number(value('binlog_snapshot_position')) };
}

/** Opens `jobs` identical snapshots (inside the pause); the capture holds them until finish or release. */
export async function captureLogical(ctx: PhaseContext, options: MariaDbOptions, pre: readonly mysql.Connection[] = []): Promise<MemberCapture> {
  const conn = connectionOf(ctx.member);
  const started = performance.now();
  // Given up by the orchestrator (capture deadline, abort): drop the connections so a query stuck on a dead
  // path (the pre-opened connections' liveness checks included) fails now.
  const abandonPre = (): void => {
    for (const c of pre) c.destroy();
  };
  ctx.signal.addEventListener('abort', abandonPre, { once: true });
  const conns = await Promise.all(
    Array.from({ length: options.jobs }, (_, i) =>
      reuseOrConnect(pre[i], () => {
        ctx.signal.throwIfAborted();
        return connectMariaDb(conn, options.connectTimeoutMs);
      }).catch((e: unknown) => e as Error),
    ),
  ).finally(() => ctx.signal.removeEventListener('abort', abandonPre));
  const open = conns.filter((c): c is mysql.Connection => !(c instanceof Error));
  // A polite QUIT that gets no answer (dead path) must not hang: past the grace the socket is dropped.
  const closeAll = async (list: readonly mysql.Connection[]): Promise<void> => {
    await Promise.all(list.map((c) => graceful(c.end(), RELEASE_GRACE_MS).catch(() => undefined).finally(() => c.destroy())));
  };
  const first = open[0];
  if (first === undefined || open.length < conns.length) {
    await closeAll(open);
    throw conns.find((c) => c instanceof Error) ?? new EngineError('CAPTURE_FAILED', 'No connection.', { context: { engine: ENGINE } });
  }
  let holders: mysql.Connection[];
  let position: SnapshotPosition;
  let gtid: string;
  const abandon = (): void => {
    for (const c of open) c.destroy();
  };
  ctx.signal.addEventListener('abort', abandon, { once: true });
  try {
    ctx.signal.throwIfAborted();
    const positions = await Promise.all(open.map(openSnapshot));
    position = positions[0]!;
    holders = open.filter((_, i) => positions[i]!.file === position.file && positions[i]!.position === position.position);
    await closeAll(open.filter((c) => !holders.includes(c)));
    const [g] = await first.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS gtid');
    gtid = String(g[0]?.gtid ?? '');
    ctx.signal.removeEventListener('abort', abandon);
  } catch (error) {
    ctx.signal.removeEventListener('abort', abandon);
    await closeAll(open);
    throw new EngineError('CAPTURE_FAILED', `Could not open a consistent snapshot: ${(error as Error).message}`, {
      hint: 'The binary log must be enabled (log_bin) so the snapshot has a binlog position; the user needs RELOAD or BINLOG MONITOR for SHOW STATUS.',
      context: { engine: ENGINE, member: ctx.member.name, backupId: ctx.backupId },
      cause: error,
    });
  }
  const captureMs = performance.now() - started;
  if (position.file === '') {
    await closeAll(holders);
    throw new EngineError('BINLOG_DISABLED', 'The server reports no binlog position for the snapshot.', {
      hint: 'Enable the binary log (log_bin) on the server; the snapshot position is the backup handle.',
      context: { engine: ENGINE, member: ctx.member.name },
    });
  }
  const handle: RestoreHandle = { kind: 'snapshot', snapshotId: `${position.file}:${position.position}`, detail: { binlogFile: position.file, binlogPosition: position.position, gtid, captureMs } };
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await closeAll(holders);
  };
  return {
    handle,
    capturedAtMs: Date.now(),
    async finish(phase) {
      try {
        const dumped = await dumpDatabases(phase, options, holders, { ...position, gtid });
        return { handle, ...dumped, detail: { ...dumped.detail, captureMs, connections: holders.length } };
      } finally {
        await release();
      }
    },
    release,
  };
}

/**
 * The member's databases, plus ScalarDB's table catalog (`scalardb`) when the server has one: without it
 * the transaction layer cannot list the restored tables.
 */
async function databasesToDump(main: mysql.Connection, ctx: PhaseContext, options: MariaDbOptions): Promise<string[]> {
  const listed = [...databasesOf(ctx.member, options)];
  if (options.databases !== undefined || listed.includes(METADATA_DATABASE)) return listed;
  const [rows] = await main.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.schemata WHERE schema_name = ?', [METADATA_DATABASE]);
  return rows.length > 0 ? [...listed, METADATA_DATABASE] : listed;
}

/**
 * Fails the dump when it makes no progress (no query answered, no row read) for `stallMs`: a path gone
 * silent otherwise hangs it forever (mysql2 has no read timeout), while a long table must not be cut short.
 * The holders are dropped then; their pending queries never settle (mysql2 does not reject them on destroy),
 * so `stalled` rejects in their place.
 */
function stallWatchdog(
  holders: readonly mysql.Connection[],
  stallMs: number,
): { touch(): void; stop(): void; readonly stalled: Promise<never>; readonly fired: boolean } {
  let timer: NodeJS.Timeout | undefined;
  let fired = false;
  let fail: (error: Error) => void = () => undefined;
  const stalled = new Promise<never>((_, reject) => (fail = reject));
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      fired = true;
      for (const c of holders) c.destroy();
      fail(new Error(`no progress for ${stallMs} ms`));
    }, stallMs);
  };
  arm();
  return {
    touch: arm,
    stop: () => clearTimeout(timer),
    stalled,
    get fired() {
      return fired;
    },
  };
}

async function dumpDatabases(
  ctx: PhaseContext,
  options: MariaDbOptions,
  holders: readonly mysql.Connection[],
  position: SnapshotPosition & { gtid: string },
): Promise<Omit<FinishedMember, 'handle'>> {
  const watchdog = stallWatchdog(holders, options.dumpStallMs);
  const dump = dumpWatched(ctx, options, holders, position, () => watchdog.touch());
  try {
    return await Promise.race([dump, watchdog.stalled]);
  } catch (error) {
    if (!watchdog.fired) throw error;
    throw new EngineError('DUMP_STALLED', `The dump of ${ctx.member.name} made no progress for ${options.dumpStallMs} ms; its connections were dropped.`, {
      hint: 'Check the network path to the database server and the server itself, then take the backup again.',
      context: { engine: ENGINE, member: ctx.member.name },
      cause: error,
    });
  } finally {
    watchdog.stop();
  }
}

async function dumpWatched(
  ctx: PhaseContext,
  options: MariaDbOptions,
  holders: readonly mysql.Connection[],
  position: SnapshotPosition & { gtid: string },
  touch: () => void,
): Promise<Omit<FinishedMember, 'handle'>> {
  const started = performance.now();
  const main = holders[0]!;
  const databases: Array<{ name: string; createDatabase: string; tables: Array<{ name: string; create: string; rows: number; key: string }> }> = [];
  const work: Array<(conn: mysql.Connection) => Promise<ArtifactRef>> = [];
  const dbs = await databasesToDump(main, ctx, options);
  touch();
  for (const db of dbs) {
    const [createDb] = await main.query<mysql.RowDataPacket[]>(`SHOW CREATE DATABASE ${quoteIdent(db)}`).catch((error: unknown) => {
      throw new EngineError('DATABASE_MISSING', `Database ${db} does not exist on the member.`, { hint: 'Fix the member namespaces or options.databases.', context: { engine: ENGINE, member: ctx.member.name }, cause: error });
    });
    const [tables] = await main.query<mysql.RowDataPacket[]>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name`,
      [db],
    );
    touch();
    const entry = { name: db, createDatabase: String(createDb[0]?.['Create Database'] ?? ''), tables: [] as Array<{ name: string; create: string; rows: number; key: string }> };
    databases.push(entry);
    for (const row of tables) {
      const table = String(row.t);
      const [create] = await main.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE ${quoteIdent(db)}.${quoteIdent(table)}`);
      touch();
      const item = { name: table, create: String(create[0]?.['Create Table'] ?? ''), rows: 0, key: `${ctx.artifactPrefix}${db}/${table}.sql${options.gzip ? '.gz' : ''}` };
      entry.tables.push(item);
      work.push((conn) => dumpTable(ctx, options, conn, db, item, touch));
    }
  }
  const artifacts = await runPool(work, holders);
  const manifest: DumpManifest = { format: 'stillpoint-mariadb-dump/1', binlogFile: position.file, binlogPosition: position.position, gtid: position.gtid, databases };
  artifacts.push(await ctx.artifacts.put(`${ctx.artifactPrefix}manifest.json`, JSON.stringify(manifest, null, 2)));
  await Promise.all(holders.map((c) => c.query('COMMIT')));
  return { artifacts, bytes: artifacts.reduce((s, a) => s + a.bytes, 0), detail: { method: 'logical', dumpMs: performance.now() - started, tables: work.length } };
}

/** Each connection takes the next table; every connection holds the same snapshot. One failure fails all. */
async function runPool(work: ReadonlyArray<(conn: mysql.Connection) => Promise<ArtifactRef>>, holders: readonly mysql.Connection[]): Promise<ArtifactRef[]> {
  const results: ArtifactRef[] = [];
  let next = 0;
  const lane = async (conn: mysql.Connection): Promise<void> => {
    while (next < work.length) {
      const job = work[next++]!;
      results.push(await job(conn));
    }
  };
  await Promise.all(holders.map(lane));
  return results;
}

type TableItem = { name: string; create: string; rows: number; key: string };

/** Streams one table as `INSERT … VALUES (…),(…);` lines of about `batchBytes` each. */
async function dumpTable(ctx: PhaseContext, options: MariaDbOptions, conn: mysql.Connection, db: string, item: TableItem, touch: () => void): Promise<ArtifactRef> {
  // mysql2's promise wrapper exposes the callback connection, whose query can stream with backpressure.
  const core = (conn as unknown as { connection: { query(o: { sql: string; rowsAsArray: boolean }): { stream(o?: { highWaterMark: number }): Readable } } }).connection;
  const rows = core.query({ sql: `SELECT * FROM ${quoteIdent(db)}.${quoteIdent(item.name)}`, rowsAsArray: true }).stream({ highWaterMark: 1000 });
  const prefix = `INSERT INTO ${quoteIdent(item.name)} VALUES `;
  const escape = (v: unknown): string => conn.escape(v);
  async function* lines(): AsyncGenerator<string> {
    let batch = '';
    for await (const row of rows as AsyncIterable<unknown[]>) {
      item.rows++;
      touch();
      const tuple = `(${row.map(escape).join(',')})`;
      batch = batch === '' ? prefix + tuple : `${batch},${tuple}`;
      if (batch.length >= options.batchBytes) {
        yield `${batch};\n`;
        batch = '';
      }
      if (ctx.signal.aborted) throw new EngineError('ABORTED', 'The dump was aborted.', { context: { engine: ENGINE } });
    }
    if (batch !== '') yield `${batch};\n`;
  }
  const source = Readable.from(lines());
  return ctx.artifacts.put(item.key, options.gzip ? source.pipe(createGzip({ level: 1 })) : source);
}
