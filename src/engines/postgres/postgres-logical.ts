/**
 * PostgreSQL logical backups with a minimal pause. Inside the pause a dedicated connection opens a
 * REPEATABLE READ transaction and exports its snapshot (milliseconds, whatever the size of the data). After
 * unpause `pg_dump --snapshot=<id>` copies exactly that snapshot, in parallel in the directory format, while
 * the exporting transaction stays open; then the transaction ends. Restore is `pg_restore -j` into a fresh
 * database (a temporary name renamed at the end, so a crashed restore never leaves a half-filled target).
 */
import { mkdir, readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { EngineError } from '../../errors.ts';
import type { ArtifactRef } from '../../artifacts/contract.ts';
import type { FinishedMember, MemberCapture, MemberRecord, PhaseContext, RestoreContext, RestoredMember, RestoreStep } from '../contract.ts';
import { graceful } from '../connection-stash.ts';
import { runTool, showCommand, spawnTool, waitTool } from '../tool-runner.ts';
import { connectPostgres, pgTool, quoteIdent, reuseOrConnect, toolEnv } from './postgres-connection.ts';
import { backupSuffix, connectionOf, parseLogicalTarget, type LogicalTarget, type PostgresConnection, type PostgresOptions } from './postgres-options.ts';

const ENGINE = 'postgres';
/** How long releasing a capture waits for the server's answer before dropping the connection. */
const RELEASE_GRACE_MS = 5_000;

/** Opens the exporting transaction. The returned capture holds it open until finish or release. */
export async function captureLogical(ctx: PhaseContext, options: PostgresOptions, pre?: pg.Client): Promise<MemberCapture> {
  const conn = connectionOf(ctx.member);
  const database = options.database ?? conn.database;
  const started = performance.now();
  // Given up by the orchestrator (capture deadline, abort): end the connection so a query stuck on a dead
  // path (the pre-opened connection's liveness check included) fails now instead of at query_timeout.
  const abandonPre = (): void => void pre?.end().catch(() => {});
  ctx.signal.addEventListener('abort', abandonPre, { once: true });
  const client = await reuseOrConnect(pre, () => {
    ctx.signal.throwIfAborted();
    return connectPostgres(conn, options.connectTimeoutMs, database);
  }).finally(() => ctx.signal.removeEventListener('abort', abandonPre));
  let snapshotId: string;
  let lsn: string;
  const abandon = (): void => void client.end().catch(() => {});
  ctx.signal.addEventListener('abort', abandon, { once: true });
  try {
    ctx.signal.throwIfAborted();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const result = await client.query<{ snapshot: string; lsn: string }>(
      'SELECT pg_export_snapshot() AS snapshot, pg_current_wal_lsn()::text AS lsn',
    );
    snapshotId = result.rows[0]?.snapshot ?? '';
    lsn = result.rows[0]?.lsn ?? '';
    ctx.signal.removeEventListener('abort', abandon);
  } catch (error) {
    ctx.signal.removeEventListener('abort', abandon);
    await client.end().catch(() => {});
    throw new EngineError('CAPTURE_FAILED', `Could not export a snapshot of ${database}: ${(error as Error).message}`, {
      hint: 'The user needs CONNECT on the database; a standby cannot export snapshots of a primary.',
      context: { engine: ENGINE, member: ctx.member.name, backupId: ctx.backupId },
      cause: error,
    });
  }
  const captureMs = performance.now() - started;
  const handle = { kind: 'snapshot', snapshotId, detail: { lsn, database, captureMs } } as const;
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    // Ending the session rolls the snapshot back anyway; the ROLLBACK is a courtesy that must not hang on a
    // dead path: past the grace, end() finds it still active and drops the socket.
    await graceful(client.query('ROLLBACK').catch(() => {}), RELEASE_GRACE_MS);
    await client.end().catch(() => {});
  };
  return {
    handle,
    capturedAtMs: Date.now(),
    async finish(phase) {
      try {
        const dumped = await dumpSnapshot(phase, options, conn, database, snapshotId, client);
        return { handle, ...dumped, detail: { ...dumped.detail, captureMs, lsn } };
      } finally {
        await release();
      }
    },
    release,
  };
}

async function dumpSnapshot(
  ctx: PhaseContext,
  options: PostgresOptions,
  conn: PostgresConnection,
  database: string,
  snapshotId: string,
  exporter: pg.Client,
): Promise<Omit<FinishedMember, 'handle'>> {
  const started = performance.now();
  const dirKey = `${ctx.artifactPrefix}dump`;
  const localDir = ctx.artifacts.localPath(dirKey);
  const format = options.format === 'directory' && localDir !== undefined ? 'directory' : 'custom';
  if (format !== options.format) ctx.log.warn('artifact store has no local path; using the custom format', { member: ctx.member.name });
  const common = ['--snapshot', snapshotId, ...(options.compress === undefined ? [] : ['-Z', String(options.compress)]), '-d', database];
  const env = toolEnv(conn, database);
  const pgDump = pgTool('pg_dump', options.binDir);
  // Keep the exporter alive: an idle-session timeout on the server must not end the snapshot mid-dump.
  const keepAlive = setInterval(() => void exporter.query('SELECT 1').catch(() => {}), 30_000);
  let artifacts: ArtifactRef[];
  try {
    if (format === 'directory' && localDir !== undefined) {
      await mkdir(dirname(localDir), { recursive: true });
      await runTool(pgDump, ['-F', 'd', '-j', String(options.jobs), '-f', localDir, ...common], { env, signal: ctx.signal, engine: ENGINE });
      artifacts = await adoptDirectory(ctx, dirKey, localDir);
    } else {
      const args = ['-F', 'c', ...common];
      const child = spawnTool(pgDump, args, { env });
      const [ref] = await Promise.all([
        ctx.artifacts.put(`${ctx.artifactPrefix}dump.pgcustom`, child.stdout!),
        waitTool(child, pgDump, args, { env, signal: ctx.signal, engine: ENGINE, stdoutTaken: true }),
      ]);
      artifacts = [ref];
    }
  } finally {
    clearInterval(keepAlive);
  }
  await exporter.query('COMMIT');
  const bytes = artifacts.reduce((sum, a) => sum + a.bytes, 0);
  return { artifacts, bytes, detail: { method: 'logical', format, jobs: options.jobs, database, dumpMs: performance.now() - started } };
}

async function adoptDirectory(ctx: PhaseContext, dirKey: string, localDir: string): Promise<ArtifactRef[]> {
  const refs: ArtifactRef[] = [];
  for (const name of (await readdir(localDir)).sort()) refs.push(await ctx.artifacts.adopt(`${dirKey}/${name}`, false));
  return refs;
}

/** Default logical target: the same server, database `<db>_restored_<suffix>`. */
export function defaultLogicalTarget(record: MemberRecord): LogicalTarget {
  const conn = connectionOf(record.member);
  const db = dumpDatabase(record);
  return { host: conn.host, port: conn.port, user: conn.user, database: `${db}_restored_${backupSuffix(record.backupId)}` };
}

function dumpDatabase(record: MemberRecord): string {
  const detail = record.handle.kind === 'snapshot' ? record.handle.detail : undefined;
  const fromHandle = detail?.database;
  return typeof fromHandle === 'string' ? fromHandle : connectionOf(record.member).database;
}

interface DumpLocation {
  readonly format: 'directory' | 'custom';
  readonly path: string | undefined;
  readonly key: string;
}

function locateDump(ctx: RestoreContext): DumpLocation {
  const toc = ctx.record.artifacts.find((a) => a.key.endsWith('/dump/toc.dat'));
  if (toc) {
    const key = toc.key.slice(0, -'/toc.dat'.length);
    return { format: 'directory', key, path: ctx.artifacts.localPath(key) };
  }
  const custom = ctx.record.artifacts.find((a) => a.key.endsWith('dump.pgcustom'));
  if (custom) return { format: 'custom', key: custom.key, path: ctx.artifacts.localPath(custom.key) };
  throw new EngineError('ARTIFACT_MISSING', `Backup ${ctx.record.backupId} has no pg_dump output for member ${ctx.record.member.name}.`, {
    hint: 'The backup record lists no dump/toc.dat or dump.pgcustom; it cannot be restored logically.',
    context: { engine: ENGINE, backupId: ctx.record.backupId, member: ctx.record.member.name },
  });
}

function restoreArgs(dump: DumpLocation, jobs: number, database: string): string[] {
  const parallel = dump.path !== undefined ? ['-j', String(jobs)] : [];
  return ['--exit-on-error', '--no-owner', ...parallel, '-d', database, ...(dump.path !== undefined ? [dump.path] : [])];
}

export function planLogicalRestore(ctx: RestoreContext, options: PostgresOptions): RestoreStep[] {
  const target = parseLogicalTarget(ctx.target, defaultLogicalTarget(ctx.record));
  const dump = locateDump(ctx);
  const staging = stagingName(target.database);
  const where = `${target.host}:${target.port} as ${target.user}`;
  return [
    { title: `Check that database ${target.database} on ${where} is absent or empty`, destructive: false },
    ...(ctx.force ? [{ title: `Drop database ${target.database} if it exists (force)`, detail: `DROP DATABASE IF EXISTS ${quoteIdent(target.database)} WITH (FORCE)`, destructive: true }] : []),
    { title: 'Create a staging database', detail: `CREATE DATABASE ${quoteIdent(staging)}`, destructive: false },
    { title: `Restore the ${dump.format} dump`, detail: showCommand('pg_restore', restoreArgs(dump, options.jobs, staging)), destructive: false },
    { title: 'Rename the staging database to the target', detail: `ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(target.database)}`, destructive: false },
  ];
}

function stagingName(database: string): string {
  return `${database.slice(0, 40)}__stillpoint_staging`;
}

/** Restores into a staging database, then renames it to the target. */
export async function restoreLogical(ctx: RestoreContext, options: PostgresOptions): Promise<RestoredMember> {
  const source = connectionOf(ctx.record.member);
  const target = parseLogicalTarget(ctx.target, defaultLogicalTarget(ctx.record));
  const conn: PostgresConnection = { ...source, host: target.host, port: target.port, user: target.user, database: target.database };
  const dump = locateDump(ctx);
  const staging = stagingName(target.database);
  const admin = await connectPostgres(conn, options.connectTimeoutMs, 'postgres');
  try {
    await prepareTargetDatabase(admin, conn, options, target.database, ctx.force);
    // A staging database left by a crashed earlier run is ours by name: drop it.
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${quoteIdent(staging)}`);
    const pgRestore = pgTool('pg_restore', options.binDir);
    const args = restoreArgs(dump, options.jobs, staging);
    ctx.log.info('pg_restore', { command: showCommand('pg_restore', args) });
    const env = toolEnv(conn, staging);
    if (dump.path !== undefined) await runTool(pgRestore, args, { env, signal: ctx.signal, engine: ENGINE });
    else await runTool(pgRestore, args, { env, signal: ctx.signal, engine: ENGINE, stdin: await ctx.artifacts.get(dump.key) });
    await admin.query(`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(target.database)}`);
  } finally {
    await admin.end().catch(() => {});
  }
  return { connection: conn };
}

async function prepareTargetDatabase(admin: pg.Client, conn: PostgresConnection, options: PostgresOptions, database: string, force: boolean): Promise<void> {
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1;
  if (!exists) return;
  const client = await connectPostgres(conn, options.connectTimeoutMs, database);
  let relations: number;
  try {
    const result = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')`,
    );
    relations = Number(result.rows[0]?.n ?? 0);
  } finally {
    await client.end().catch(() => {});
  }
  if (relations > 0 && !force) {
    throw new EngineError('RESTORE_TARGET_NOT_EMPTY', `Database ${database} on ${conn.host}:${conn.port} already holds ${relations} relations.`, {
      hint: 'Choose another target database, or pass --force to drop and recreate it.',
      context: { engine: ENGINE, target: database },
    });
  }
  await admin.query(`DROP DATABASE ${quoteIdent(database)} WITH (FORCE)`);
}
