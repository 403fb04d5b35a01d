/**
 * The PostgreSQL backup engine. Two methods (`options.method`):
 * - `logical` (default): exported snapshot inside the pause, `pg_dump --snapshot` after it (./postgres-logical.ts);
 * - `pitr`: named restore point inside the pause, WAL archive + base backup (./postgres-pitr.ts).
 * Both capture the whole database cluster atomically, so a group with one PostgreSQL member needs no pause.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { ConfigError } from '../../errors.ts';
import type { ClockSample, Engine, EngineCapabilities, MemberCapture, MemberRecord, MemberSpec, PhaseContext, PreflightCheck, RestoreContext, RestoredMember, RestoreHandle, RestoreStep, RestoreTarget } from '../contract.ts';
import { ConnectionStash, stashKey } from '../connection-stash.ts';
import { hasTool } from '../tool-runner.ts';
import { connectPostgres, pgTool } from './postgres-connection.ts';
import { captureLogical, defaultLogicalTarget, planLogicalRestore, restoreLogical } from './postgres-logical.ts';
import { connectionOf, parseLogicalTarget, parsePitrTarget, parsePostgresOptions, type PostgresOptions } from './postgres-options.ts';
import { capturePitr, ensureBaseBackup, preflightPitr, waitArchived } from './postgres-pitr.ts';
import { defaultPitrTarget, planPitrRestore, restorePitr } from './postgres-pitr-restore.ts';

const CAPABILITIES: EngineCapabilities = Object.freeze({
  handleKinds: ['snapshot', 'named-point'] as const,
  atomicCapture: true,
  snapshotInsidePause: true,
  clockBased: false,
  restoreIntoNewNameOnly: false,
  // Only the pitr method waits (for the WAL archive); for logical backups horizon returns at once.
  horizonWait: true,
});

const TOOLS: Record<PostgresOptions['method'], readonly string[]> = {
  logical: ['pg_dump', 'pg_restore'],
  pitr: ['pg_basebackup', 'pg_ctl'],
};

function isPitrRecord(record: MemberRecord): boolean {
  return record.handle.kind === 'named-point';
}

export class PostgresEngine implements Engine {
  readonly kind = 'postgres';
  readonly capabilities = CAPABILITIES;
  /** Capture connections opened in prepare, so the pause does not pay for connecting. */
  private readonly preopened = new ConnectionStash<pg.Client>((c) => c.end().catch(() => {}));

  validateOptions(member: MemberSpec): void {
    parsePostgresOptions(member);
  }

  async preflight(ctx: PhaseContext): Promise<readonly PreflightCheck[]> {
    const options = parsePostgresOptions(ctx.member);
    const checks: PreflightCheck[] = TOOLS[options.method].map((tool) => {
      const path = pgTool(tool, options.binDir);
      return hasTool(path)
        ? { name: `tool ${tool}`, ok: true, detail: path }
        : { name: `tool ${tool}`, ok: false, detail: `TOOL_MISSING: ${path}`, hint: `Install the PostgreSQL client tools (postgresql-client) or set options.binDir.` };
    });
    const conn = connectionOf(ctx.member);
    let client: pg.Client;
    try {
      client = await connectPostgres(conn, options.connectTimeoutMs, options.database ?? conn.database);
    } catch (error) {
      return [...checks, { name: 'connect', ok: false, detail: (error as Error).message, hint: 'Check host, port, user and password of the member.' }];
    }
    try {
      const version = (await client.query<{ v: string }>('SHOW server_version')).rows[0]?.v ?? '?';
      checks.push({ name: 'connect', ok: true, detail: `PostgreSQL ${version} at ${conn.host}:${conn.port}` });
      if (options.method === 'pitr') checks.push(...(await preflightPitr(ctx, client)));
    } finally {
      await client.end().catch(() => {});
    }
    return checks;
  }

  async prepare(ctx: PhaseContext): Promise<void> {
    const options = parsePostgresOptions(ctx.member);
    if (options.method === 'pitr') await ensureBaseBackup(ctx, options);
    const conn = connectionOf(ctx.member);
    const database = options.method === 'logical' ? (options.database ?? conn.database) : conn.database;
    this.preopened.put(stashKey(ctx.backupId, ctx.member.name), await connectPostgres(conn, options.connectTimeoutMs, database));
  }

  async measureClock(ctx: PhaseContext): Promise<ClockSample> {
    const options = parsePostgresOptions(ctx.member);
    const client = await connectPostgres(connectionOf(ctx.member), options.connectTimeoutMs);
    try {
      const before = performance.timeOrigin + performance.now();
      const r = await client.query<{ ms: string }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8::text AS ms');
      const after = performance.timeOrigin + performance.now();
      const rttMs = after - before;
      // clock_timestamp() has microsecond resolution: the uncertainty is the half round trip.
      return { offsetMs: Number(r.rows[0]?.ms) - (before + after) / 2, uncertaintyMs: rttMs / 2 + 0.001, rttMs };
    } finally {
      await client.end().catch(() => {});
    }
  }

  discard(ctx: PhaseContext): Promise<void> {
    return this.preopened.discard(stashKey(ctx.backupId, ctx.member.name));
  }

  async capture(ctx: PhaseContext): Promise<MemberCapture> {
    const options = parsePostgresOptions(ctx.member);
    const pre = this.preopened.take(stashKey(ctx.backupId, ctx.member.name));
    return options.method === 'pitr' ? capturePitr(ctx, options, pre) : captureLogical(ctx, options, pre);
  }

  async horizon(ctx: PhaseContext, handle: RestoreHandle): Promise<void> {
    if (handle.kind !== 'named-point') return;
    await waitArchived(ctx, parsePostgresOptions(ctx.member), handle);
  }

  parseRestoreTarget(record: MemberRecord, target: RestoreTarget | undefined): RestoreTarget {
    if (record.member.connection.kind !== 'postgres') {
      throw new ConfigError('ENGINE_CONNECTION_INVALID', `Member ${record.member.name} is not a PostgreSQL member.`, { context: { engine: this.kind } });
    }
    return isPitrRecord(record) ? parsePitrTarget(target ?? {}, defaultPitrTarget(record)) : parseLogicalTarget(target ?? {}, defaultLogicalTarget(record));
  }

  planRestore(ctx: RestoreContext): Promise<readonly RestoreStep[]> {
    const options = parsePostgresOptions(ctx.record.member);
    return Promise.resolve(isPitrRecord(ctx.record) ? planPitrRestore(ctx, options) : planLogicalRestore(ctx, options));
  }

  restore(ctx: RestoreContext): Promise<RestoredMember> {
    const options = parsePostgresOptions(ctx.record.member);
    return isPitrRecord(ctx.record) ? restorePitr(ctx, options) : restoreLogical(ctx, options);
  }
}

/** The engine registered under kind `postgres`. */
export function createPostgresEngine(): Engine {
  return new PostgresEngine();
}
