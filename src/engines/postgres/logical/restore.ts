/**
 * PostgreSQL logical restore session: `pg_restore -j` into a staging database, renamed to the target at
 * the end, so a crashed restore never leaves a half-filled target (and the target is untouched until the
 * data is ready).
 *
 * Restore marker: a comment on the database, `COMMENT ON DATABASE … IS 'stillpoint-restore {json}'` with
 * `{ backupId, state }`. The staging database gets `state: "in-progress"` before anything is restored and
 * keeps it through the rename; `markFinished()` sets `state: "restored"`. pg_dump without `--create` never
 * carries database comments, so the marker is not part of the restored data.
 */
import type pg from 'pg';
import { EngineError } from '../../../errors.ts';
import type {
  MemberRecord,
  PreflightCheck,
  RestoredMember,
  RestoreOptions,
  RestoreSession,
  RestoreSessionContext,
  RestoreStep,
  TargetInspection,
} from '../../contract.ts';
import { refuseUnlessRestorable } from '../../restore-refusal.ts';
import { SessionWork } from '../../session-work.ts';
import { hasTool, runTool, showCommand } from '../../tool-runner.ts';
import {
  connectPostgres,
  endClient,
  pgTool,
  quoteIdent,
  quoteLiteral,
  sameServer,
  toolEnv,
  withAbort,
} from '../connection.ts';
import {
  backupSuffix,
  connectionOf,
  memberCredentials,
  parseLogicalTarget,
  targetConnection,
  type LogicalTarget,
  type PostgresConnection,
  type PostgresOptions,
} from '../options.ts';

const ENGINE = 'postgres';
const MARKER = 'stillpoint-restore ';
interface DumpLocation {
  readonly format: 'directory' | 'custom';
  readonly path: string | undefined;
  readonly key: string;
}

export class PostgresLogicalRestore implements RestoreSession {
  readonly target: LogicalTarget;
  private readonly conn: PostgresConnection;
  private readonly work = new SessionWork(ENGINE);

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: PostgresOptions,
  ) {
    this.target = parseLogicalTarget(ctx.target ?? {}, defaultLogicalTarget(ctx.record));
    this.conn = targetConnection(connectionOf(ctx.record.member), this.target);
  }

  private get staging(): string {
    return `${this.target.database.slice(0, 40)}__stillpoint_staging`;
  }

  plan(): Promise<readonly RestoreStep[]> {
    const t = this.target;
    const dump = this.locateDump();
    const where = `${t.host}:${t.port} as ${t.user}`;
    return Promise.resolve([
      {
        title: `Check that database ${t.database} on ${where} is absent, empty or a leftover of this restore`,
        destructive: false,
      },
      {
        title: 'Create a staging database, marked in-progress',
        detail: `CREATE DATABASE ${quoteIdent(this.staging)}`,
        destructive: false,
      },
      {
        title: `Restore the ${dump.format} dump`,
        detail: showCommand('pg_restore', restoreArgs(dump, this.options.jobs, this.staging)),
        destructive: false,
      },
      {
        title: `Drop database ${t.database} if it exists (a leftover of this restore, or --force)`,
        detail: `DROP DATABASE IF EXISTS ${quoteIdent(t.database)} WITH (FORCE)`,
        destructive: true,
      },
      {
        title: 'Rename the staging database to the target',
        detail: `ALTER DATABASE ${quoteIdent(this.staging)} RENAME TO ${quoteIdent(t.database)}`,
        destructive: false,
      },
      {
        title: 'After the check: mark the target restored',
        detail: `COMMENT ON DATABASE ${quoteIdent(t.database)} IS '${MARKER}…'`,
        destructive: false,
      },
    ]);
  }

  inspect(signal: AbortSignal): Promise<TargetInspection> {
    return this.work.track(this.inspectTarget(this.work.signal(signal)));
  }

  private async inspectTarget(signal: AbortSignal): Promise<TargetInspection> {
    const t = this.target;
    const tool = pgTool('pg_restore', this.options.binDir);
    const checks: PreflightCheck[] = [
      hasTool(tool)
        ? { name: 'tool pg_restore', ok: true, detail: tool }
        : {
            name: 'tool pg_restore',
            ok: false,
            detail: `TOOL_MISSING: ${tool}`,
            hint: 'Install postgresql-client or set options.binDir.',
          },
    ];
    const source = connectionOf(this.ctx.record.member);
    if (sameServer(t, source) && t.database === dumpDatabase(this.ctx.record)) {
      return {
        checks,
        state: 'live-source',
        detail: `database ${t.database} on ${t.host}:${t.port} is the member's live source`,
        hint: 'Restore into another database (--target NAME=\'{"database":"…"}\'); overwriting the source needs --force and --overwrite-source (its current data is lost).',
      };
    }
    let admin: pg.Client;
    try {
      admin = await connectPostgres(this.conn, this.options.connectTimeoutMs, 'postgres', signal);
    } catch (error) {
      checks.push({
        name: 'connect',
        ok: false,
        detail: (error as Error).message,
        hint: "Check the target's host, port, user and password (the target may carry its own user/password/passwordEnv/passwordFile).",
      });
      return { checks, state: 'absent', detail: `server ${t.host}:${t.port} could not be inspected` };
    }
    checks.push({ name: 'connect', ok: true, detail: `${t.user}@${t.host}:${t.port}` });
    try {
      return await withAbort(admin, signal, async () => {
        const row = (
          await admin.query<{ comment: string | null }>(
            "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1",
            [t.database],
          )
        ).rows[0];
        if (row === undefined)
          return { checks, state: 'absent', detail: `database ${t.database} does not exist` } as const;
        const marker = parseMarker(row.comment);
        if (marker?.backupId === this.ctx.record.backupId) {
          return marker.state === 'in-progress'
            ? ({
                checks,
                state: 'in-progress',
                detail: `database ${t.database} is the leftover of an unfinished restore of this backup`,
                hint: 'It is redone without --force.',
              } as const)
            : ({
                checks,
                state: 'restored',
                detail: `database ${t.database} holds a finished restore of this backup, which may have been written to since`,
                hint: 'Pass --force to drop and restore it again, or choose another database.',
              } as const);
        }
        if (marker?.state === 'in-progress') {
          return {
            checks,
            state: 'foreign',
            detail: `database ${t.database} is the leftover of an unfinished restore of another backup (${marker.backupId ?? '?'})`,
            hint: `Remove it (DROP DATABASE ${t.database}), choose another target database, or pass --force to drop and recreate it.`,
          } as const;
        }
        const relations = await this.countRelations(signal);
        if (relations === 0)
          return { checks, state: 'empty', detail: `database ${t.database} exists and is empty` } as const;
        return {
          checks,
          state: 'foreign',
          detail: `database ${t.database} has ${relations} relations this restore did not write`,
          hint: 'Choose another target database, or pass --force to drop and recreate it.',
        } as const;
      });
    } finally {
      await endClient(admin);
    }
  }

  private async countRelations(signal: AbortSignal): Promise<number> {
    const client = await connectPostgres(
      this.conn,
      this.options.connectTimeoutMs,
      this.target.database,
      signal,
    );
    try {
      const result = await withAbort(client, signal, () =>
        client.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')`,
        ),
      );
      return Number(result.rows[0]?.n ?? 0);
    } finally {
      await endClient(client);
    }
  }

  restore(opts: RestoreOptions): Promise<RestoredMember> {
    return this.work.track(this.restoreInto(opts, this.work.signal(opts.signal)));
  }

  private async restoreInto(opts: RestoreOptions, signal: AbortSignal): Promise<RestoredMember> {
    const t = this.target;
    const inspection = await this.inspectTarget(signal);
    refuseUnlessRestorable(inspection, opts, {
      member: this.ctx.record.member.name,
      engine: ENGINE,
      backupId: this.ctx.record.backupId,
      target: `${t.host}:${t.port}/${t.database}`,
    });
    const dump = this.locateDump();
    const admin = await connectPostgres(this.conn, this.options.connectTimeoutMs, 'postgres', signal);
    try {
      await withAbort(admin, signal, async () => {
        // A staging database left by a crashed earlier run is ours by name: drop it.
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(this.staging)} WITH (FORCE)`);
        await admin.query(`CREATE DATABASE ${quoteIdent(this.staging)}`);
        await admin.query(
          `COMMENT ON DATABASE ${quoteIdent(this.staging)} IS ${quoteLiteral(this.marker('in-progress'))}`,
        );
      });
      const args = restoreArgs(dump, this.options.jobs, this.staging);
      this.ctx.log.info('pg_restore', { command: showCommand('pg_restore', args) });
      const env = toolEnv(this.conn, this.staging);
      const pgRestore = pgTool('pg_restore', this.options.binDir);
      if (dump.path !== undefined) await runTool(pgRestore, args, { env, signal, engine: ENGINE });
      else
        await runTool(pgRestore, args, {
          env,
          signal,
          engine: ENGINE,
          stdin: await this.ctx.artifacts.get(dump.key),
        });
      await withAbort(admin, signal, async () => {
        if (inspection.state !== 'absent')
          await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(t.database)} WITH (FORCE)`);
        await admin.query(`ALTER DATABASE ${quoteIdent(this.staging)} RENAME TO ${quoteIdent(t.database)}`);
      });
    } finally {
      await endClient(admin);
    }
    return { connection: this.conn };
  }

  async markFinished(): Promise<void> {
    const admin = await connectPostgres(
      this.conn,
      this.options.connectTimeoutMs,
      'postgres',
      this.work.closeSignal,
    );
    try {
      await admin.query(
        `COMMENT ON DATABASE ${quoteIdent(this.target.database)} IS ${quoteLiteral(this.marker('restored'))}`,
      );
    } finally {
      await endClient(admin);
    }
  }

  async close(): Promise<void> {
    await this.work.close();
  }

  private marker(state: 'in-progress' | 'restored'): string {
    return `${MARKER}${JSON.stringify({ backupId: this.ctx.record.backupId, state })}`;
  }

  private locateDump(): DumpLocation {
    const { record, artifacts } = this.ctx;
    const toc = record.artifacts.find((a) => a.key.endsWith('/dump/toc.dat'));
    if (toc) {
      const key = toc.key.slice(0, -'/toc.dat'.length);
      return { format: 'directory', key, path: artifacts.localPath(key) };
    }
    const custom = record.artifacts.find((a) => a.key.endsWith('dump.pgcustom'));
    if (custom) return { format: 'custom', key: custom.key, path: artifacts.localPath(custom.key) };
    throw new EngineError(
      'ARTIFACT_MISSING',
      `Backup ${record.backupId} has no pg_dump output for member ${record.member.name}.`,
      {
        hint: 'The backup record lists no dump/toc.dat or dump.pgcustom; it cannot be restored logically.',
        context: { engine: ENGINE, backupId: record.backupId, member: record.member.name },
      },
    );
  }
}

/** Default logical target: the same server and credentials, database `<db>_restored_<suffix>`. */
export function defaultLogicalTarget(record: MemberRecord): LogicalTarget {
  const conn = connectionOf(record.member);
  return {
    host: conn.host,
    port: conn.port,
    ...memberCredentials(conn),
    database: `${dumpDatabase(record)}_restored_${backupSuffix(record.backupId)}`,
  };
}

function dumpDatabase(record: MemberRecord): string {
  const detail = record.handle.kind === 'snapshot' ? record.handle.detail : undefined;
  const fromHandle = detail?.database;
  return typeof fromHandle === 'string' ? fromHandle : connectionOf(record.member).database;
}

function parseMarker(comment: string | null): { backupId?: string; state?: string } | undefined {
  if (comment === null || !comment.startsWith(MARKER)) return undefined;
  try {
    return JSON.parse(comment.slice(MARKER.length)) as { backupId?: string; state?: string };
  } catch {
    return undefined;
  }
}

function restoreArgs(dump: DumpLocation, jobs: number, database: string): string[] {
  const parallel = dump.path !== undefined ? ['-j', String(jobs)] : [];
  return [
    '--exit-on-error',
    '--no-owner',
    ...parallel,
    '-d',
    database,
    ...(dump.path !== undefined ? [dump.path] : []),
  ];
}
