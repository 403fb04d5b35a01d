/**
 * MariaDB point-in-time recovery by binlog position. A physical base backup (`mariabackup --backup
 * --stream=xbstream`, streamed through the artifact store) lives in `shared/<member>/base/<label>/`; binlogs
 * are archived into `shared/<member>/binlog/` after `FLUSH BINARY LOGS` closes them, read over the replication
 * protocol (`mariadb-binlog --read-from-remote-server --raw`), so the engine needs no access to the server's
 * files. Inside the pause the engine only reads `SHOW MASTER STATUS` (and the GTID position).
 * Restore lives in ./mariadb-pitr-restore.ts.
 */
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type mysql from 'mysql2/promise';
import { EngineError } from '../../errors.ts';
import type { ArtifactRef } from '../../artifacts/contract.ts';
import type { MemberCapture, PhaseContext, PreflightCheck, RestoreHandle } from '../contract.ts';
import { latestBaseBackup } from '../base-backups.ts';
import { runTool, spawnTool, waitTool } from '../tool-runner.ts';
import { connectMariaDb, reuseOrConnect, toolArgs, toolEnv } from './mariadb-connection.ts';
import { connectionOf, type MariaDbOptions } from './mariadb-options.ts';

const ENGINE = 'mariadb';

/** What `prepare` records next to a base backup; its presence marks the base backup complete. */
export interface BaseBackupInfo {
  readonly label: string;
  /** Binlog position of the base backup: replay starts here. */
  readonly binlogFile: string;
  readonly binlogPosition: number;
  readonly gtid: string;
  readonly takenAtMs: number;
  readonly files: readonly ArtifactRef[];
}

export async function preflightPitr(conn: mysql.Connection): Promise<PreflightCheck[]> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@log_bin AS log_bin, @@binlog_format AS fmt');
  const logBin = Number(rows[0]?.log_bin ?? 0) === 1;
  const format = String(rows[0]?.fmt ?? '');
  const checks: PreflightCheck[] = [
    logBin
      ? { name: 'log_bin', ok: true, detail: 'binary log enabled' }
      : { name: 'log_bin', ok: false, detail: 'binary log disabled', hint: 'Start the server with --log-bin (and --server-id); a restart is needed.' },
    format === 'ROW'
      ? { name: 'binlog_format', ok: true, detail: 'ROW' }
      : { name: 'binlog_format', ok: false, detail: `binlog_format = ${format}`, hint: 'SET GLOBAL binlog_format = ROW (and in the config file) so replay is exact.' },
  ];
  if (logBin) {
    try {
      const [logs] = await conn.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
      checks.push({ name: 'binlog archive readable', ok: true, detail: `${logs.length} binlog files on the server` });
    } catch (error) {
      checks.push({ name: 'binlog archive readable', ok: false, detail: (error as Error).message, hint: 'GRANT REPLICATION SLAVE, BINLOG MONITOR, RELOAD ON *.* to the backup user.' });
    }
  }
  return checks;
}

/** Takes a streamed mariabackup base backup unless one exists (an existing one precedes every later capture). */
export async function ensureBaseBackup(ctx: PhaseContext, _options: MariaDbOptions): Promise<BaseBackupInfo> {
  const existing = await latestBaseBackup<BaseBackupInfo>(ctx);
  if (existing) return existing;
  const conn = connectionOf(ctx.member);
  const label = `base-${new Date().toISOString().replaceAll(/[-:.]/g, '')}`;
  const dirKey = `${ctx.sharedPrefix}base/${label}`;
  const scratch = await mkdtemp(join(tmpdir(), 'stillpoint-mariabackup-'));
  const started = performance.now();
  try {
    const args = ['--backup', '--stream=xbstream', `--target-dir=${scratch}`, ...toolArgs(conn)];
    const child = spawnTool('mariabackup', args, { env: toolEnv(conn) });
    const [ref, out] = await Promise.all([
      ctx.artifacts.put(`${dirKey}/backup.xbstream`, child.stdout!),
      waitTool(child, 'mariabackup', args, { env: toolEnv(conn), signal: ctx.signal, engine: ENGINE, stdoutTaken: true }),
    ]);
    const m = /binlog position: filename '([^']+)', position '(\d+)'(?:, GTID of the last change '([^']*)')?/.exec(out.stderr);
    if (m === null) {
      throw new EngineError('BASE_BACKUP_INVALID', 'mariabackup reported no binlog position.', { hint: 'Enable the binary log on the server.', context: { engine: ENGINE, member: ctx.member.name } });
    }
    const info: BaseBackupInfo = { label, binlogFile: m[1]!, binlogPosition: Number(m[2]), gtid: m[3] ?? '', takenAtMs: Date.now(), files: [ref] };
    await ctx.artifacts.put(`${dirKey}/info.json`, JSON.stringify(info, null, 2));
    ctx.log.info('base backup taken', { member: ctx.member.name, label, ms: Math.round(performance.now() - started), bytes: ref.bytes });
    return info;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Inside the pause: the binlog position (and GTID position) of the last commit. */
export async function capturePitr(ctx: PhaseContext, options: MariaDbOptions, pre?: mysql.Connection): Promise<MemberCapture> {
  const started = performance.now();
  const c = await reuseOrConnect(pre, () => connectMariaDb(connectionOf(ctx.member), options.connectTimeoutMs));
  let handle: RestoreHandle;
  try {
    const [status] = await c.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
    const [g] = await c.query<mysql.RowDataPacket[]>('SELECT @@gtid_binlog_pos AS gtid');
    const row = status[0];
    if (row === undefined) throw new Error('SHOW MASTER STATUS returned nothing: the binary log is disabled');
    handle = { kind: 'log-position', file: String(row.File), position: Number(row.Position), gtid: String(g[0]?.gtid ?? '') };
  } catch (error) {
    throw new EngineError('CAPTURE_FAILED', `Could not read the binlog position: ${(error as Error).message}`, {
      hint: 'Enable log_bin; the user needs BINLOG MONITOR (or SUPER/REPLICATION CLIENT).',
      context: { engine: ENGINE, member: ctx.member.name, backupId: ctx.backupId },
      cause: error,
    });
  } finally {
    await c.end().catch(() => {});
  }
  const captureMs = performance.now() - started;
  return {
    handle,
    capturedAtMs: Date.now(),
    async finish(phase) {
      const base = await latestBaseBackup<BaseBackupInfo>(phase);
      if (base === undefined) {
        throw new EngineError('BASE_BACKUP_MISSING', `Member ${phase.member.name} has no base backup in ${phase.sharedPrefix}base/.`, { hint: 'prepare() takes one; run the backup again.', context: { engine: ENGINE } });
      }
      const binlogs = await archiveBinlogs(phase, options, handle, base);
      const artifacts = [...base.files, ...binlogs];
      return { handle, artifacts, bytes: artifacts.reduce((s, a) => s + a.bytes, 0), detail: { method: 'pitr', captureMs, base: base.label, binlogs: binlogs.length } };
    },
    async release() {},
  };
}

/**
 * Closes the binlog holding the handle's position (FLUSH BINARY LOGS) and archives every binlog from the
 * base backup's file through it. EngineError `BINLOG_PURGED` when the server no longer has one of them.
 */
export async function archiveBinlogs(ctx: PhaseContext, options: MariaDbOptions, handle: RestoreHandle, base?: BaseBackupInfo): Promise<ArtifactRef[]> {
  if (handle.kind !== 'log-position') throw new EngineError('HANDLE_KIND', `MariaDB PITR expects a log-position handle, got ${handle.kind}.`, { context: { engine: ENGINE } });
  const from = base ?? (await latestBaseBackup<BaseBackupInfo>(ctx));
  const conn = connectionOf(ctx.member);
  const prefix = `${ctx.sharedPrefix}binlog/`;
  const dir = ctx.artifacts.localPath(prefix.slice(0, -1));
  if (dir === undefined) throw new EngineError('STORE_NOT_LOCAL', 'Binlog archiving needs an artifact store with local paths.', { context: { engine: ENGINE } });
  await mkdir(dir, { recursive: true });
  const c = await connectMariaDb(conn, options.connectTimeoutMs);
  try {
    const [status] = await c.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
    if (String(status[0]?.File) === handle.file) await c.query('FLUSH BINARY LOGS');
    const [logs] = await c.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
    const names = logs.map((r) => String(r.Log_name));
    const first = from?.binlogFile ?? handle.file;
    const wanted = names.filter((n) => n >= first && n <= handle.file);
    if (!names.includes(first) && !(await ctx.artifacts.exists(`${prefix}${first}`))) {
      throw new EngineError('BINLOG_PURGED', `Binlog ${first} (the base backup's position) is no longer on the server nor archived.`, {
        hint: 'Take a new base backup (delete shared/<member>/base/) and keep binlogs longer (expire_logs_days).',
        context: { engine: ENGINE, member: ctx.member.name },
      });
    }
    const refs: ArtifactRef[] = [];
    for (const name of wanted) {
      const key = `${prefix}${name}`;
      if (!(await ctx.artifacts.exists(key))) {
        const tmpPrefix = join(dir, `.partial-${process.pid}-`);
        await runTool('mariadb-binlog', ['--read-from-remote-server', '--raw', ...toolArgs(conn), `--result-file=${tmpPrefix}`, name], {
          env: toolEnv(conn),
          signal: ctx.signal,
          engine: ENGINE,
          timeoutMs: options.archiveTimeoutMs,
        });
        await rename(`${tmpPrefix}${name}`, join(dir, name));
      }
      refs.push(await ctx.artifacts.adopt(key, true));
    }
    return refs;
  } finally {
    await c.end().catch(() => {});
  }
}
