/**
 * Restoring a MariaDB logical dump through the client protocol: each database is created under its target
 * name (`<db>_r_<suffix>` by default, `scalardb` included, so a restore next to the live databases can be
 * checked), its tables created from the dumped `SHOW CREATE TABLE`, and the row files replayed statement by
 * statement (one INSERT per line), `jobs` tables at a time. Every target database carries a restore marker
 * (../markers.ts) from before its first change.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type mysql from 'mysql2/promise';
import { EngineError } from '../../../errors.ts';
import type {
  PreflightCheck,
  RestoredMember,
  RestoreOptions,
  RestoreSession,
  RestoreSessionContext,
  RestoreStep,
  RestoreTarget,
  TargetInspection,
} from '../../contract.ts';
import { readMemberManifest } from '../../member-manifest.ts';
import { closeQuietly, connectMariaDb, credentialsRejected, quoteIdent } from '../connection.ts';
import { refuseUnlessRestorable } from '../../restore-refusal.ts';
import { decodeMarker, encodeMarker, stateFromMarker, worstState, type RestoreMarker } from '../markers.ts';
import {
  connectionOf,
  parseLogicalTarget,
  redactedTarget,
  targetDatabase,
  type LogicalTarget,
  type MariaDbOptions,
} from '../options.ts';
import type { DumpManifest, DumpTable } from './manifest.ts';

const ENGINE = 'mariadb';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);
const sameHost = (a: string, b: string): boolean => a === b || (LOOPBACK.has(a) && LOOPBACK.has(b));

/** Keeps the source's character set and collation: drops the name (and any comment) of its CREATE DATABASE. */
function databaseOptions(createStatement: string): string {
  return createStatement
    .replace(/^CREATE DATABASE\s+(\/\*.*?\*\/\s*)?`(?:[^`]|``)*`/i, '')
    .replace(/\s+COMMENT\s+'(?:[^'\\]|\\.|'')*'/i, '');
}

export class LogicalRestore implements RestoreSession {
  readonly target: RestoreTarget;
  private readonly t: LogicalTarget;
  private readonly open = new Set<mysql.Connection>();
  private manifest: DumpManifest | undefined;
  private closed = false;

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: MariaDbOptions,
  ) {
    this.t = parseLogicalTarget(ctx.target, connectionOf(ctx.record.member), ctx.record.backupId);
    this.target = redactedTarget(this.t);
  }

  private get label(): string {
    return `${this.t.host}:${this.t.port}`;
  }

  private marker(state: RestoreMarker['state']): string {
    return encodeMarker({ backupId: this.ctx.record.backupId, member: this.ctx.record.member.name, state });
  }

  private async readManifest(): Promise<DumpManifest> {
    return (this.manifest ??= await readMemberManifest<DumpManifest>(this.ctx, '/manifest.json'));
  }

  private async connect(): Promise<mysql.Connection> {
    if (this.closed)
      throw new EngineError('SESSION_CLOSED', 'The restore session is closed.', {
        context: { engine: ENGINE },
      });
    const c = await connectMariaDb(this.t.connection, this.options.connectTimeoutMs);
    this.open.add(c);
    return c;
  }

  private async release(c: mysql.Connection): Promise<void> {
    this.open.delete(c);
    await closeQuietly(c);
  }

  /** Namespace (source database) → restored database name, for every dumped database (`scalardb` included). */
  private async names(): Promise<Record<string, string>> {
    const manifest = await this.readManifest();
    return Object.fromEntries(manifest.databases.map((d) => [d.name, targetDatabase(this.t, d.name)]));
  }

  async plan(): Promise<readonly RestoreStep[]> {
    const manifest = await this.readManifest();
    const user = this.t.connection.user;
    return manifest.databases.flatMap((db) => {
      const name = targetDatabase(this.t, db.name);
      return [
        {
          title: `Check that database ${name} on ${this.label} is absent, empty or an unfinished restore of this backup (else --force drops it)`,
          detail: `DROP DATABASE IF EXISTS ${quoteIdent(name)}`,
          destructive: true,
        },
        {
          title: `Create database ${name} as ${user}, marked as an in-progress restore of ${this.ctx.record.backupId}`,
          detail: `CREATE DATABASE ${quoteIdent(name)} … COMMENT '<marker>'`,
          destructive: false,
        },
        {
          title: `Create ${db.tables.length} tables and load ${db.tables.reduce((s, x) => s + x.rows, 0)} rows`,
          detail: db.tables.map((x) => x.key).join(', '),
          destructive: false,
        },
      ];
    });
  }

  async inspect(signal: AbortSignal): Promise<TargetInspection> {
    signal.throwIfAborted();
    const names = await this.names();
    const checks: PreflightCheck[] = [];
    let c: mysql.Connection;
    try {
      c = await this.connect();
    } catch (error) {
      const denied = credentialsRejected(error);
      checks.push({
        name: 'reachable',
        ok: denied,
        detail: denied ? `${this.label} answers` : (error as Error).message,
        ...(denied
          ? {}
          : {
              hint: `Is a MariaDB server running at ${this.label}? Check host and port of the restore target.`,
            }),
      });
      if (denied)
        checks.push({
          name: 'credentials',
          ok: false,
          detail: `user ${this.t.connection.user} was refused at ${this.label}`,
          hint: "Give the restore target its own user and password / passwordEnv / passwordFile (they default to the member's).",
        });
      return { checks, state: 'absent', detail: `could not inspect ${this.label}` };
    }
    try {
      checks.push(
        { name: 'reachable', ok: true, detail: `${this.label} answers` },
        { name: 'credentials', ok: true, detail: `connected as ${this.t.connection.user}` },
      );
      const targets = Object.values(names);
      const [schemata] = await c.query<mysql.RowDataPacket[]>(
        'SELECT schema_name AS s, schema_comment AS m FROM information_schema.schemata WHERE schema_name IN (?)',
        [targets],
      );
      const [counts] = await c.query<mysql.RowDataPacket[]>(
        'SELECT table_schema AS s, count(*) AS n FROM information_schema.tables WHERE table_schema IN (?) GROUP BY table_schema',
        [targets],
      );
      const source = connectionOf(this.ctx.record.member);
      const sameServer = sameHost(source.host, this.t.host) && source.port === this.t.port;
      const parts = Object.entries(names).map(([db, name]) => {
        const row = schemata.find((r) => String(r.s) === name);
        const tables = Number(counts.find((r) => String(r.s) === name)?.n ?? 0);
        const marker = decodeMarker(row?.m === undefined ? undefined : String(row.m));
        const state: TargetInspection['state'] =
          row === undefined
            ? 'absent'
            : sameServer && name === db && marker === undefined
              ? 'live-source'
              : stateFromMarker(
                  marker,
                  this.ctx.record.backupId,
                  this.ctx.record.member.name,
                  tables > 0 || marker !== undefined,
                );
        return { name, state, tables, marker };
      });
      const state = worstState(parts.map((p) => p.state));
      const worst = parts.filter((p) => p.state === state);
      const detail = parts
        .map((p) => `database ${p.name}: ${p.state}${p.tables > 0 ? ` (${p.tables} tables)` : ''}`)
        .join('; ');
      return { checks, state, detail: `${this.label}: ${detail}`, ...this.hintFor(state, worst) };
    } finally {
      await this.release(c);
    }
  }

  private hintFor(
    state: TargetInspection['state'],
    parts: ReadonlyArray<{ name: string; marker: RestoreMarker | undefined }>,
  ): { hint?: string } {
    const drops = parts.map((p) => `DROP DATABASE ${quoteIdent(p.name)}`).join('; ');
    const leftover = parts.find((p) => p.marker?.state === 'in-progress');
    switch (state) {
      case 'in-progress':
        return {
          hint: 'The leftover of an unfinished restore of this backup: it is dropped and restored again.',
        };
      case 'restored':
        return {
          hint: `Restored from this backup earlier and possibly written to since. Pass --force to restore over it, or drop it first (${drops}).`,
        };
      case 'foreign':
        return leftover?.marker
          ? {
              hint: `${leftover.name} is the leftover of an unfinished restore of backup ${leftover.marker.backupId} (member ${leftover.marker.member}). Remove it with ${drops}, or pass --force.`,
            }
          : {
              hint: `Restore under other names (rename, suffix), or pass --force to drop and recreate ${parts.map((p) => p.name).join(', ')}.`,
            };
      case 'live-source':
        return {
          hint: `${parts.map((p) => p.name).join(', ')} is the member's live database on this server. Restore under other names (the default suffix), or pass --force with allowSource to overwrite it.`,
        };
      default:
        return {};
    }
  }

  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    const inspection = await this.inspect(opts.signal);
    refuseUnlessRestorable(inspection, opts, { engine: ENGINE, target: this.label });
    const manifest = await this.readManifest();
    const names = await this.names();
    const jobs: Array<{ db: string; table: DumpTable }> = [];
    const admin = await this.connect();
    try {
      // Marker first: every target database says "in-progress restore of this backup" before any data changes.
      const [existing] = await admin.query<mysql.RowDataPacket[]>(
        'SELECT schema_name AS s FROM information_schema.schemata WHERE schema_name IN (?)',
        [Object.values(names)],
      );
      const present = new Set(existing.map((r) => String(r.s)));
      for (const db of manifest.databases) {
        const name = names[db.name]!;
        if (present.has(name))
          await admin.query(
            `ALTER DATABASE ${quoteIdent(name)} COMMENT ${admin.escape(this.marker('in-progress'))}`,
          );
      }
      for (const db of manifest.databases) {
        opts.signal.throwIfAborted();
        const name = names[db.name]!;
        if (present.has(name)) await admin.query(`DROP DATABASE ${quoteIdent(name)}`);
        await admin.query(
          `CREATE DATABASE ${quoteIdent(name)}${databaseOptions(db.createDatabase)} COMMENT ${admin.escape(this.marker('in-progress'))}`,
        );
        await admin.query(`USE ${quoteIdent(name)}`);
        for (const table of db.tables) {
          await admin.query(table.create);
          jobs.push({ db: name, table });
        }
      }
    } finally {
      await this.release(admin);
    }
    await this.load(jobs, manifest, opts.signal);
    const first = manifest.databases[0];
    this.ctx.log.info('restored MariaDB databases', { target: this.label, databases: Object.values(names) });
    return {
      connection: { ...this.t.connection, ...(first ? { database: names[first.name]! } : {}) },
      namespaces: names,
    };
  }

  /** Replays the row files, `jobs` tables at a time, in the dump's session settings. */
  private async load(
    jobs: ReadonlyArray<{ db: string; table: DumpTable }>,
    manifest: DumpManifest,
    signal: AbortSignal,
  ): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      const c = await this.connect();
      const abort = (): void => c.destroy();
      signal.addEventListener('abort', abort, { once: true });
      try {
        // As mariadb-dump's own files do: no FK/unique checks while loading, an explicit 0 stays 0 in an AUTO_INCREMENT column.
        await c.query(
          `SET SESSION foreign_key_checks = 0, unique_checks = 0, sql_mode = 'NO_AUTO_VALUE_ON_ZERO'${manifest.timeZone ? `, time_zone = ${c.escape(manifest.timeZone)}` : ''}`,
        );
        while (next < jobs.length) {
          const job = jobs[next++]!;
          await c.query(`USE ${quoteIdent(job.db)}`);
          await loadTable(
            c,
            await this.ctx.artifacts.get(job.table.key),
            job.table.key.endsWith('.gz'),
            signal,
          );
        }
      } finally {
        signal.removeEventListener('abort', abort);
        await this.release(c);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.jobs, Math.max(1, jobs.length)) }, lane));
  }

  async markFinished(): Promise<void> {
    const names = Object.values(await this.names());
    const c = await this.connect();
    try {
      for (const name of names)
        await c.query(`ALTER DATABASE ${quoteIdent(name)} COMMENT ${c.escape(this.marker('restored'))}`);
    } finally {
      await this.release(c);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.open].map((c) => this.release(c))).catch(() => undefined);
  }
}

async function loadTable(
  conn: mysql.Connection,
  stream: Readable,
  gz: boolean,
  signal: AbortSignal,
): Promise<void> {
  const lines = createInterface({ input: gz ? stream.pipe(createGunzip()) : stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (signal.aborted)
        throw new EngineError('ABORTED', 'The restore was aborted.', { context: { engine: ENGINE } });
      if (line !== '') await conn.query(line);
    }
  } finally {
    stream.destroy();
  }
}
