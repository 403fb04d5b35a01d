/**
 * PostgreSQL point-in-time recovery by named restore point. WAL is archived continuously by the server's
 * `archive_command` into the artifact store (`shared/<member>/wal/`); a base backup (`pg_basebackup -Ft -X none`)
 * in `shared/<member>/base/<label>/` precedes every restore point; inside the pause the engine only calls
 * `pg_create_restore_point('<backup id>')`; the horizon waits until the WAL segment holding it is archived.
 * This file holds the archive side (preflight of archiving, base backups, waiting for a segment); the
 * session is ./capture.ts and the restore ./restore.ts.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { EngineError } from '../../../errors.ts';
import type { ArtifactRef } from '../../../artifacts/contract.ts';
import type { BackupSessionContext, PreflightCheck, RestoreHandle } from '../../contract.ts';
import { latestBaseBackup } from '../../base-backups.ts';
import { runTool, shellQuote } from '../../tool-runner.ts';
import { connectPostgres, endClient, pgTool, quoteLiteral, toolEnv } from '../connection.ts';
import { connectionOf, type PostgresOptions } from '../options.ts';

const ENGINE = 'postgres';
const SEGMENT_NAME = /^[0-9A-F]{24}$/;

/** What `prepare` records next to a base backup; its presence marks the base backup complete. */
export interface BaseBackupInfo {
  readonly label: string;
  readonly startLsn: string;
  readonly endLsn: string;
  readonly timeline: number;
  /** WAL segment holding the start LSN: replay begins there. */
  readonly startWal: string;
  readonly takenAtMs: number;
  readonly files: readonly ArtifactRef[];
}

/** The archive_command the engine expects, writing into `walDir` without ever overwriting a segment. */
export function suggestedArchiveCommand(walDir: string): string {
  const at = (suffix: string): string => `${shellQuote(walDir)}/%f${suffix}`;
  return `test ! -f ${at('')} && cp %p ${at('.tmp')} && mv ${at('.tmp')} ${at('')}`;
}

/**
 * The SQL that sets {@link suggestedArchiveCommand}, as one statement a user can paste into psql (quotes
 * doubled by {@link quoteLiteral}; ALTER SYSTEM cannot share a transaction, so reload is a second one).
 */
export function archiveCommandSql(walDir: string): string {
  return `ALTER SYSTEM SET archive_command = ${quoteLiteral(suggestedArchiveCommand(walDir))};`;
}

export async function preflightPitr(
  ctx: BackupSessionContext,
  client: pg.Client,
  signal: AbortSignal,
): Promise<PreflightCheck[]> {
  const settings = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_command')`,
  );
  const get = (name: string): string => settings.rows.find((r) => r.name === name)?.setting ?? '';
  const walDir = ctx.artifacts.localPath(`${ctx.sharedPrefix}wal`);
  const command = get('archive_command');
  const restart = 'then restart the server';
  const checks: PreflightCheck[] = [
    check(
      'wal_level',
      ['replica', 'logical'].includes(get('wal_level')),
      `wal_level = ${get('wal_level')}`,
      `ALTER SYSTEM SET wal_level = replica; ${restart}.`,
    ),
    check(
      'archive_mode',
      ['on', 'always'].includes(get('archive_mode')),
      `archive_mode = ${get('archive_mode')}`,
      `ALTER SYSTEM SET archive_mode = on; ${restart}.`,
    ),
    check(
      'archive_command',
      command !== '' && command !== '(disabled)',
      `archive_command = ${command || '(empty)'}`,
      `Run ${archiveCommandSql(walDir ?? '<artifacts>/shared/<member>/wal')} then SELECT pg_reload_conf(); ` +
        `The WAL directory ${walDir ?? '<artifacts>/shared/<member>/wal'} must exist and be writable by the server's OS user (e.g. postgres).`,
    ),
  ];
  if (walDir !== undefined) {
    checks.push(
      check(
        'archive_command targets the artifact store',
        command.includes(walDir),
        `WAL must land in ${walDir}`,
        `Point archive_command at ${walDir}: ${archiveCommandSql(walDir)} The directory must exist and be writable by the server's OS user.`,
      ),
    );
  }
  if (checks.every((c) => c.ok)) checks.push(await archivingWorks(ctx, client, signal));
  return checks;
}

function check(name: string, ok: boolean, detail: string, hint: string): PreflightCheck {
  return ok ? { name, ok, detail } : { name, ok, detail, hint };
}

/** Switches WAL and waits (≤ 15 s) for that segment to be archived without new archive failures. */
async function archivingWorks(
  ctx: BackupSessionContext,
  client: pg.Client,
  signal: AbortSignal,
): Promise<PreflightCheck> {
  const before = await archiverStats(client);
  // A restore point guarantees there is WAL to switch away from, so the switch always closes a segment.
  await client.query(`SELECT pg_create_restore_point('stillpoint-preflight')`);
  const switched = await client.query<{ wal: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS wal');
  const segment = switched.rows[0]?.wal ?? '';
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !signal.aborted) {
    const now = await archiverStats(client);
    if (now.failedCount > before.failedCount) {
      return {
        name: 'archiving works',
        ok: false,
        detail: `archive_command failed for ${now.lastFailedWal ?? '?'} (failed_count ${before.failedCount} → ${now.failedCount})`,
        hint: "Run the archive_command by hand as the server's OS user; the WAL directory must exist and be writable by that user.",
      };
    }
    if (await segmentArchived(ctx, client, segment))
      return { name: 'archiving works', ok: true, detail: `segment ${segment} archived` };
    await sleep(200, undefined, { signal }).catch(() => undefined);
  }
  return {
    name: 'archiving works',
    ok: false,
    detail: `segment ${segment} not archived within 15 s`,
    hint: 'Check pg_stat_archiver and the server log.',
  };
}

interface ArchiverStats {
  readonly failedCount: number;
  readonly lastArchivedWal: string | null;
  readonly lastFailedWal: string | null;
}

async function archiverStats(client: pg.Client): Promise<ArchiverStats> {
  const r = await client.query<{
    failed_count: string;
    last_archived_wal: string | null;
    last_failed_wal: string | null;
  }>('SELECT failed_count, last_archived_wal, last_failed_wal FROM pg_stat_archiver');
  const row = r.rows[0];
  return {
    failedCount: Number(row?.failed_count ?? 0),
    lastArchivedWal: row?.last_archived_wal ?? null,
    lastFailedWal: row?.last_failed_wal ?? null,
  };
}

/** The file is in the store's archive, or (remote stores) pg_stat_archiver has passed it on the same timeline. */
async function segmentArchived(
  ctx: BackupSessionContext,
  client: pg.Client,
  segment: string,
): Promise<boolean> {
  if (await ctx.artifacts.exists(`${ctx.sharedPrefix}wal/${segment}`)) return true;
  if (ctx.artifacts.localPath(`${ctx.sharedPrefix}wal`) !== undefined) return false;
  const last = (await archiverStats(client)).lastArchivedWal?.slice(0, 24) ?? '';
  return SEGMENT_NAME.test(last) && last.slice(0, 8) === segment.slice(0, 8) && last >= segment;
}

/** Takes a base backup unless one exists (any existing one precedes every restore point taken later). */
export async function ensureBaseBackup(
  ctx: BackupSessionContext,
  options: PostgresOptions,
  signal: AbortSignal,
): Promise<BaseBackupInfo> {
  const existing = await latestBaseBackup<BaseBackupInfo>(ctx);
  if (existing) return existing;
  const label = `base-${new Date().toISOString().replaceAll(/[-:.]/g, '')}`;
  const dirKey = `${ctx.sharedPrefix}base/${label}`;
  const dir = ctx.artifacts.localPath(dirKey);
  if (dir === undefined) {
    throw new EngineError(
      'STORE_NOT_LOCAL',
      'PostgreSQL base backups need an artifact store with local paths.',
      {
        hint: 'Use a local-directory artifact store for PITR members.',
        context: { engine: ENGINE, member: ctx.member.name },
      },
    );
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const conn = connectionOf(ctx.member);
  const started = performance.now();
  await runTool(
    pgTool('pg_basebackup', options.binDir),
    ['-D', dir, '-F', 't', '-X', 'none', '-c', 'fast', '-l', label, '--no-sync'],
    {
      env: toolEnv(conn),
      signal,
      engine: ENGINE,
    },
  );
  const manifest = JSON.parse(await readFile(`${dir}/backup_manifest`, 'utf8')) as {
    'WAL-Ranges'?: Array<{ Timeline: number; 'Start-LSN': string; 'End-LSN': string }>;
  };
  const range = manifest['WAL-Ranges']?.[0];
  if (range === undefined)
    throw new EngineError(
      'BASE_BACKUP_INVALID',
      `pg_basebackup wrote no WAL range into ${dir}/backup_manifest.`,
      { context: { engine: ENGINE } },
    );
  const files = [
    await ctx.artifacts.adopt(`${dirKey}/base.tar`, true),
    await ctx.artifacts.adopt(`${dirKey}/backup_manifest`, true),
  ];
  const client = await connectPostgres(conn, options.connectTimeoutMs, conn.database, signal);
  let startWal: string;
  try {
    startWal =
      (await client.query<{ w: string }>('SELECT pg_walfile_name($1::pg_lsn) AS w', [range['Start-LSN']]))
        .rows[0]?.w ?? '';
  } finally {
    await endClient(client);
  }
  // pg_walfile_name uses the server's current timeline; the base backup's own timeline is authoritative.
  startWal = range.Timeline.toString(16).toUpperCase().padStart(8, '0') + startWal.slice(8);
  const info: BaseBackupInfo = {
    label,
    startLsn: range['Start-LSN'],
    endLsn: range['End-LSN'],
    timeline: range.Timeline,
    startWal,
    takenAtMs: Date.now(),
    files,
  };
  await ctx.artifacts.put(`${dirKey}/info.json`, JSON.stringify(info, null, 2));
  ctx.log.info('base backup taken', {
    member: ctx.member.name,
    label,
    ms: Math.round(performance.now() - started),
  });
  return info;
}

/**
 * Waits until the segment holding the handle's LSN is archived, switching WAL when the server is still
 * writing into it. Returns that segment's name. EngineError `HORIZON_TIMEOUT` after `archiveTimeoutMs`.
 */
export async function waitArchived(
  ctx: BackupSessionContext,
  options: PostgresOptions,
  handle: RestoreHandle,
  signal: AbortSignal,
): Promise<string> {
  if (handle.kind !== 'named-point')
    throw new EngineError(
      'HANDLE_KIND',
      `PostgreSQL PITR expects a named-point handle, got ${handle.kind}.`,
      { context: { engine: ENGINE } },
    );
  const conn = connectionOf(ctx.member);
  const client = await connectPostgres(conn, options.connectTimeoutMs, conn.database, signal);
  const onAbort = (): void => void endClient(client, 0);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const segment =
      (await client.query<{ w: string }>('SELECT pg_walfile_name($1::pg_lsn) AS w', [handle.lsn])).rows[0]
        ?.w ?? '';
    const started = Date.now();
    let lastLog = started;
    for (;;) {
      if (await segmentArchived(ctx, client, segment)) return segment;
      const current =
        (await client.query<{ w: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS w')).rows[0]?.w ??
        '';
      // Only the segment still being written needs a switch; closed ones are queued for archive_command.
      if (current === segment) await client.query('SELECT pg_switch_wal()');
      if (signal.aborted)
        throw new EngineError('ABORTED', 'Waiting for the WAL archive was aborted.', {
          context: { engine: ENGINE },
        });
      if (Date.now() - started > options.archiveTimeoutMs) {
        const stats = await archiverStats(client);
        throw new EngineError(
          'HORIZON_TIMEOUT',
          `WAL segment ${segment} (restore point ${handle.name}) was not archived within ${options.archiveTimeoutMs} ms; last archived ${stats.lastArchivedWal ?? 'none'}, failures ${stats.failedCount}.`,
          {
            hint: 'Check archive_command and pg_stat_archiver on the server; the backup is not restorable until that segment is archived.',
            context: { engine: ENGINE, member: ctx.member.name, backupId: ctx.backupId },
          },
        );
      }
      if (Date.now() - lastLog > 5_000) {
        lastLog = Date.now();
        ctx.log.info('waiting for WAL archive', {
          member: ctx.member.name,
          segment,
          waitedMs: lastLog - started,
        });
      }
      await sleep(100, undefined, { signal }).catch(() => undefined);
    }
  } catch (error) {
    if (signal.aborted)
      throw new EngineError('ABORTED', 'Waiting for the WAL archive was aborted.', {
        context: { engine: ENGINE },
        cause: error,
      });
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await endClient(client);
  }
}

/** Archived segments from the base backup's start segment through `target`, plus timeline history files. */
export async function walArtifacts(
  ctx: BackupSessionContext,
  startWal: string,
  target: string,
): Promise<ArtifactRef[]> {
  const prefix = `${ctx.sharedPrefix}wal/`;
  const names = (await ctx.artifacts.list(prefix)).map((k) => k.slice(prefix.length));
  const wanted = names.filter(
    (n) =>
      n.endsWith('.history') ||
      (SEGMENT_NAME.test(n) &&
        n.slice(8) >= startWal.slice(8) &&
        n.slice(8) <= target.slice(8) &&
        n.slice(0, 8) <= target.slice(0, 8)),
  );
  const refs: ArtifactRef[] = [];
  for (const name of wanted.sort()) refs.push(await ctx.artifacts.adopt(`${prefix}${name}`, true));
  return refs;
}
