/**
 * Restoring a MariaDB logical dump through the client protocol: each database is created under its target
 * name (`<db>_r_<suffix>` by default), its tables created from the dumped `SHOW CREATE TABLE`, and the row
 * files replayed statement by statement (one INSERT per line), `jobs` tables at a time.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type mysql from 'mysql2/promise';
import { EngineError } from '../../errors.ts';
import type { MemberRecord, RestoreContext, RestoredMember, RestoreStep } from '../contract.ts';
import { readJsonArtifact } from '../base-backups.ts';
import { connectMariaDb, quoteIdent } from './mariadb-connection.ts';
import type { DumpManifest } from './mariadb-logical.ts';
import { backupSuffix, connectionOf, parseLogicalTarget, targetDatabase, type LogicalTarget, type MariaDbConnection, type MariaDbOptions } from './mariadb-options.ts';

const ENGINE = 'mariadb';

export function defaultLogicalTarget(record: MemberRecord): LogicalTarget {
  const conn = connectionOf(record.member);
  return { host: conn.host, port: conn.port, user: conn.user, rename: {}, inPlace: false, suffix: backupSuffix(record.backupId) };
}

export function resolveLogicalTarget(ctx: Pick<RestoreContext, 'record' | 'target'>): LogicalTarget {
  return parseLogicalTarget(ctx.target, defaultLogicalTarget(ctx.record));
}

async function readManifest(ctx: RestoreContext): Promise<DumpManifest> {
  const ref = ctx.record.artifacts.find((a) => a.key.endsWith('/manifest.json'));
  if (ref === undefined) {
    throw new EngineError('ARTIFACT_MISSING', `Backup ${ctx.record.backupId} has no dump manifest for member ${ctx.record.member.name}.`, { context: { engine: ENGINE, backupId: ctx.record.backupId } });
  }
  return readJsonArtifact<DumpManifest>(ctx.artifacts, ref.key);
}

const targetName = targetDatabase;

export async function planLogicalRestore(ctx: RestoreContext): Promise<RestoreStep[]> {
  const t = resolveLogicalTarget(ctx);
  const manifest = await readManifest(ctx);
  return manifest.databases.flatMap((db) => [
    ...(ctx.force ? [{ title: `Drop ${targetName(t, db.name)} if it exists (force)`, detail: `DROP DATABASE IF EXISTS ${quoteIdent(targetName(t, db.name))}`, destructive: true }] : []),
    { title: `Create database ${targetName(t, db.name)} on ${t.host}:${t.port} as ${t.user}`, detail: `CREATE DATABASE ${quoteIdent(targetName(t, db.name))}`, destructive: false },
    { title: `Create ${db.tables.length} tables and load ${db.tables.reduce((s, x) => s + x.rows, 0)} rows`, detail: db.tables.map((x) => x.key).join(', '), destructive: false },
  ]);
}

async function prepareDatabase(admin: mysql.Connection, name: string, createStatement: string, force: boolean): Promise<void> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ?', [name]);
  const [exists] = await admin.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.schemata WHERE schema_name = ?', [name]);
  const tables = Number(rows[0]?.n ?? 0);
  if (tables > 0 && !force) {
    throw new EngineError('RESTORE_TARGET_NOT_EMPTY', `Database ${name} already holds ${tables} tables.`, {
      hint: 'Choose other names (rename in the restore target), or pass --force to drop and recreate it.',
      context: { engine: ENGINE, target: name },
    });
  }
  if (exists.length > 0) await admin.query(`DROP DATABASE ${quoteIdent(name)}`);
  // Keep the source's character set and collation: replace only the name in its CREATE DATABASE.
  const options = createStatement.replace(/^CREATE DATABASE\s+(\/\*.*?\*\/\s*)?`(?:[^`]|``)*`/i, '');
  await admin.query(`CREATE DATABASE ${quoteIdent(name)}${options}`);
}

async function loadTable(conn: mysql.Connection, stream: Readable, gz: boolean, signal: AbortSignal): Promise<void> {
  const lines = createInterface({ input: gz ? stream.pipe(createGunzip()) : stream, crlfDelay: Infinity });
  for await (const line of lines) {
    if (signal.aborted) throw new EngineError('ABORTED', 'The restore was aborted.', { context: { engine: ENGINE } });
    if (line !== '') await conn.query(line);
  }
}

export async function restoreLogical(ctx: RestoreContext, options: MariaDbOptions): Promise<RestoredMember> {
  const t = resolveLogicalTarget(ctx);
  const conn: MariaDbConnection = { ...connectionOf(ctx.record.member), host: t.host, port: t.port, user: t.user };
  const manifest = await readManifest(ctx);
  const admin = await connectMariaDb(conn, options.connectTimeoutMs);
  const jobs: Array<{ db: string; table: DumpManifest['databases'][number]['tables'][number] }> = [];
  try {
    for (const db of manifest.databases) {
      const name = targetName(t, db.name);
      await prepareDatabase(admin, name, db.createDatabase, ctx.force);
      for (const table of db.tables) {
        await admin.query(`USE ${quoteIdent(name)}`);
        await admin.query(table.create);
        jobs.push({ db: name, table });
      }
    }
  } finally {
    await admin.end().catch(() => {});
  }
  let next = 0;
  const lane = async (): Promise<void> => {
    const c = await connectMariaDb(conn, options.connectTimeoutMs);
    try {
      await c.query('SET SESSION foreign_key_checks = 0, unique_checks = 0');
      while (next < jobs.length) {
        const job = jobs[next++]!;
        await c.query(`USE ${quoteIdent(job.db)}`);
        await loadTable(c, await ctx.artifacts.get(job.table.key), job.table.key.endsWith('.gz'), ctx.signal);
      }
    } finally {
      await c.end().catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, Math.max(1, jobs.length)) }, lane));
  const namespaces = Object.fromEntries(manifest.databases.map((d) => [d.name, targetName(t, d.name)]));
  const first = manifest.databases[0];
  return { connection: { ...conn, ...(first ? { database: targetName(t, first.name) } : {}) }, namespaces };
}
