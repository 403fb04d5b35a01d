/**
 * The MariaDB/MySQL backup engine. Two methods (`options.method`):
 * - `logical` (default): consistent snapshots opened inside the pause, dumped after it through the client
 *   protocol in those same transactions (./mariadb-logical.ts);
 * - `pitr`: binlog position inside the pause, mariabackup base backup + archived binlogs (./mariadb-pitr.ts).
 * Both cut every InnoDB table of the server atomically, so a group with one MariaDB member needs no pause.
 */
import { performance } from 'node:perf_hooks';
import type mysql from 'mysql2/promise';
import type { ClockSample, Engine, EngineCapabilities, MemberCapture, MemberRecord, MemberSpec, PhaseContext, PreflightCheck, RestoreContext, RestoredMember, RestoreHandle, RestoreStep, RestoreTarget } from '../contract.ts';
import { ConnectionStash, graceful, stashKey } from '../connection-stash.ts';
import { hasTool } from '../tool-runner.ts';
import { connectMariaDb } from './mariadb-connection.ts';
import { captureLogical } from './mariadb-logical.ts';
import { planLogicalRestore, resolveLogicalTarget, restoreLogical } from './mariadb-logical-restore.ts';
import { connectionOf, parseMariaDbOptions, type MariaDbOptions } from './mariadb-options.ts';
import { archiveBinlogs, capturePitr, ensureBaseBackup, preflightPitr } from './mariadb-pitr.ts';
import { parsePitrDirTarget, planPitrRestore, restorePitr } from './mariadb-pitr-restore.ts';

const CAPABILITIES: EngineCapabilities = Object.freeze({
  handleKinds: ['snapshot', 'log-position'] as const,
  atomicCapture: true,
  snapshotInsidePause: true,
  clockBased: false,
  restoreIntoNewNameOnly: false,
  // Only the pitr method waits (for the binlog to be archived); for logical backups horizon returns at once.
  horizonWait: true,
});

/** Tools each method runs (logical backups and restores go through the client protocol: none). */
const TOOLS: Record<MariaDbOptions['method'], readonly string[]> = {
  logical: [],
  pitr: ['mariabackup', 'mbstream', 'mariadb-binlog', 'mariadb', 'mariadbd'],
};

const isPitrRecord = (record: MemberRecord): boolean => record.handle.kind === 'log-position';

export class MariaDbEngine implements Engine {
  readonly kind = 'mariadb';
  readonly capabilities = CAPABILITIES;
  /** Capture connections opened in prepare, so the pause does not pay for connecting. */
  private readonly preopened = new ConnectionStash<mysql.Connection[]>(async (list) => {
    await Promise.all(list.map((c) => graceful(c.end(), 5_000).catch(() => undefined).finally(() => c.destroy())));
  });

  validateOptions(member: MemberSpec): void {
    parseMariaDbOptions(member);
  }

  async preflight(ctx: PhaseContext): Promise<readonly PreflightCheck[]> {
    const options = parseMariaDbOptions(ctx.member);
    const checks: PreflightCheck[] = TOOLS[options.method].map((tool) =>
      hasTool(tool)
        ? { name: `tool ${tool}`, ok: true, detail: tool }
        : { name: `tool ${tool}`, ok: false, detail: `TOOL_MISSING: ${tool}`, hint: 'Install mariadb-client and mariadb-backup (the same major version as the server).' },
    );
    const conn = connectionOf(ctx.member);
    let c: mysql.Connection;
    try {
      c = await connectMariaDb(conn, options.connectTimeoutMs);
    } catch (error) {
      return [...checks, { name: 'connect', ok: false, detail: (error as Error).message, hint: 'Check host, port, user and password of the member.' }];
    }
    try {
      const [v] = await c.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v, @@log_bin AS log_bin');
      checks.push({ name: 'connect', ok: true, detail: `MariaDB ${String(v[0]?.v)} at ${conn.host}:${conn.port}` });
      if (options.method === 'pitr') checks.push(...(await preflightPitr(c)));
      else if (Number(v[0]?.log_bin) !== 1) {
        checks.push({ name: 'log_bin', ok: false, detail: 'binary log disabled', hint: 'Start the server with --log-bin: the snapshot\'s binlog position is recorded with every backup.' });
      }
    } finally {
      await c.end().catch(() => {});
    }
    return checks;
  }

  async prepare(ctx: PhaseContext): Promise<void> {
    const options = parseMariaDbOptions(ctx.member);
    if (options.method === 'pitr') await ensureBaseBackup(ctx, options);
    const conn = connectionOf(ctx.member);
    const count = options.method === 'logical' ? options.jobs : 1;
    const list = await Promise.all(Array.from({ length: count }, () => connectMariaDb(conn, options.connectTimeoutMs)));
    this.preopened.put(stashKey(ctx.backupId, ctx.member.name), list);
  }

  async measureClock(ctx: PhaseContext): Promise<ClockSample> {
    const options = parseMariaDbOptions(ctx.member);
    const c = await connectMariaDb(connectionOf(ctx.member), options.connectTimeoutMs);
    try {
      const before = performance.timeOrigin + performance.now();
      const [r] = await c.query<mysql.RowDataPacket[]>('SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000 AS DOUBLE) AS ms');
      const after = performance.timeOrigin + performance.now();
      const rttMs = after - before;
      // NOW(6) has microsecond resolution: the uncertainty is the half round trip.
      return { offsetMs: Number(r[0]?.ms) - (before + after) / 2, uncertaintyMs: rttMs / 2 + 0.001, rttMs };
    } finally {
      await c.end().catch(() => {});
    }
  }

  discard(ctx: PhaseContext): Promise<void> {
    return this.preopened.discard(stashKey(ctx.backupId, ctx.member.name));
  }

  async capture(ctx: PhaseContext): Promise<MemberCapture> {
    const options = parseMariaDbOptions(ctx.member);
    const pre = this.preopened.take(stashKey(ctx.backupId, ctx.member.name)) ?? [];
    return options.method === 'pitr' ? capturePitr(ctx, options, pre[0]) : captureLogical(ctx, options, pre);
  }

  async horizon(ctx: PhaseContext, handle: RestoreHandle): Promise<void> {
    if (handle.kind !== 'log-position') return;
    await archiveBinlogs(ctx, parseMariaDbOptions(ctx.member), handle);
  }

  parseRestoreTarget(record: MemberRecord, target: RestoreTarget | undefined): RestoreTarget {
    parseMariaDbOptions(record.member);
    return isPitrRecord(record) ? parsePitrDirTarget(record, target) : resolveLogicalTarget({ record, target: target ?? {} });
  }

  async planRestore(ctx: RestoreContext): Promise<readonly RestoreStep[]> {
    parseMariaDbOptions(ctx.record.member);
    return isPitrRecord(ctx.record) ? planPitrRestore(ctx) : planLogicalRestore(ctx);
  }

  restore(ctx: RestoreContext): Promise<RestoredMember> {
    const options = parseMariaDbOptions(ctx.record.member);
    return isPitrRecord(ctx.record) ? restorePitr(ctx, options) : restoreLogical(ctx, options);
  }
}

/** The engine registered under kind `mariadb`. */
export function createMariaDbEngine(): Engine {
  return new MariaDbEngine();
}
