/**
 * PostgreSQL point-in-time recovery by named restore point. WAL is archived continuously by the server's
 * `archive_command` into the artifact store (`shared/<member>/wal/`); a base backup (`pg_basebackup -Ft -X none`)
 * in `shared/<member>/base/<label>/` precedes every restore point; inside the pause the engine only calls
 * `pg_create_restore_point('<backup id>')`; the horizon waits until the WAL segment holding it is archived.
 * Restore lives in ./postgres-pitr-restore.ts.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { EngineError } from '../../errors.ts';
import type { ArtifactRef } from '../../artifacts/contract.ts';
import type { MemberCapture, PhaseContext, PreflightCheck, RestoreHandle } from '../contract.ts';
import { latestBaseBackup } from '../base-backups.ts';
import { runTool } from '../tool-runner.ts';
import { connectPostgres, pgTool, reuseOrConnect, toolEnv } from './postgres-connection.ts';
import { connectionOf, type PostgresOptions } from './postgres-options.ts';

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
  return `test ! -f '${walDir}/%f' && cp %p '${walDir}/%f.tmp' && mv '${walDir}/%f.tmp' '${walDir}/%f'`;
}

export async function preflightPitr(ctx: PhaseContext, client: pg.Client): Promise<PreflightCheck[]> {
  const settings = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_command')`,
  );
  const get = (name: string): string => settings.rows.find((r) => r.name === name)?.setting ?? '';
  const walDir = ctx.artifacts.localPath(`${ctx.sharedPrefix}wal`);
  const command = get('archive_command');
  const restart = 'then restart the server';
  const checks: PreflightCheck[] = [
    check('wal_level', ['replica', 'logical'].includes(get('wal_level')), `wal_level = ${get('wal_level')}`, `ALTER SYSTEM SET wal_level = replica; ${restart}.`),
    check('archive_mode', ['on', 'always'].includes(get('archive_mode')), `archive_mode = ${get('archive_mode')}`, `ALTER SYSTEM SET archive_mode = on; ${restart}.`),
    check(
      'archive_command',
      command !== '' && command !== '(disabled)',
      `archive_command = ${command || '(empty)'}`,
      `ALTER SYSTEM SET archive_command = '${suggestedArchiveCommand(walDir ?? '<artifacts>/shared/<member>/wal')}'; SELECT pg_reload_conf();`,
    ),
  ];
  if (walDir !== undefined) {
    checks.push(
      check('archive_command targets the artifact store', command.includes(walDir), `WAL must land in ${walDir}`, `Point archive_command at ${walDir} (owned by the server's OS user).`),
    );
  }
  if (checks.every((c) => c.ok)) checks.push(await archivingWorks(ctx, client));
  return checks;
}

function check(name: string, ok: boolean, detail: string, hint: string): PreflightCheck {
  return ok ? { name, ok, detail } : { name, ok, detail, hint };
}

/** Switches WAL and waits (≤ 15 s) for that segment to be archived without new archive failures. */
async function archivingWorks(ctx: PhaseContext, client: pg.Client): Promise<PreflightCheck> {
  const before = await archiverStats(client);
  // A restore point guarantees there is WAL to switch away from, so the switch always closes a segment.
  await client.query(`SELECT pg_create_restore_point('stillpoint-preflight')`);
  const switched = await client.query<{ wal: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS wal');
  const segment = switched.rows[0]?.wal ?? '';
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !ctx.signal.aborted) {
    const now = await archiverStats(client);
    if (now.failedCount > before.failedCount) {
      return {
        name: 'archiving works',
        ok: false,
        detail: `archive_command failed for ${now.lastFailedWal ?? '?'} (failed_count ${before.failedCount} → ${now.failedCount})`,
        hint: 'Run the archive_command by hand as the server OS user; check the target directory exists and is writable.',
      };
    }
    if (await segmentArchived(ctx, client, segment)) return { name: 'archiving works', ok: true, detail: `segment ${segment} archived` };
    await sleep(200);
  }
  return { name: 'archiving works', ok: false, detail: `segment ${segment} not archived within 15 s`, hint: 'Check pg_stat_archiver and the server log.' };
}

interface ArchiverStats {
  readonly failedCount: number;
  readonly lastArchivedWal: string | null;
  readonly lastFailedWal: string | null;
}

async function archiverStats(client: pg.Client): Promise<ArchiverStats> {
  const r = await client.query<{ failed_count: string; last_archived_wal: string | null; last_failed_wal: string | null }>(
    'SELECT failed_count, last_archived_wal, last_failed_wal FROM pg_stat_archiver',
  );
  const row = r.rows[0];
  return { failedCount: Number(row?.failed_count ?? 0), lastArchivedWal: row?.last_archived_wal ?? null, lastFailedWal: row?.last_failed_wal ?? null };
}

/** The file is in the store's archive, or (remote stores) pg_stat_archiver has passed it on the same timeline. */
async function segmentArchived(ctx: PhaseContext, client: pg.Client, segment: string): Promise<boolean> {
  if (await ctx.artifacts.exists(`${ctx.sharedPrefix}wal/${segment}`)) return true;
  if (ctx.artifacts.localPath(`${ctx.sharedPrefix}wal`) !== undefined) return false;
  const last = (await archiverStats(client)).lastArchivedWal?.slice(0, 24) ?? '';
  return SEGMENT_NAME.test(last) && last.slice(0, 8) === segment.slice(0, 8) && last >= segment;
}

/** Takes a base backup unless one exists (any existing one precedes every restore point taken later). */
export async function ensureBaseBackup(ctx: PhaseContext, options: PostgresOptions): Promise<BaseBackupInfo> {
  const existing = await latestBaseBackup<BaseBackupInfo>(ctx);
  if (existing) return existing;
  const label = `base-${new Date().toISOString().replaceAll(/[-:.]/g, '')}`;
  const dirKey = `${ctx.sharedPrefix}base/${label}`;
  const dir = ctx.artifacts.localPath(dirKey);
  if (dir === undefined) {
    throw new EngineError('STORE_NOT_LOCAL', 'PostgreSQL base backups need an artifact store with local paths.', {
      hint: 'Use a local-directory artifact store for PITR members.',
      context: { engine: ENGINE, member: ctx.member.name },
    });
  }
  await mkdir(dir, { recursive: true });
  const conn = connectionOf(ctx.member);
  const started = performance.now();
  await runTool(pgTool('pg_basebackup', options.binDir), ['-D', dir, '-F', 't', '-X', 'none', '-c', 'fast', '-l', label, '--no-sync'], {
    env: toolEnv(conn),
    signal: ctx.signal,
    engine: ENGINE,
  });
  const manifest = JSON.parse(await readFile(`${dir}/backup_manifest`, 'utf8')) as { 'WAL-Ranges'?: Array<{ Timeline: number; 'Start-LSN': string; 'End-LSN': string }> };
  const range = manifest['WAL-Ranges']?.[0];
  if (range === undefined) throw new EngineError('BASE_BACKUP_INVALID', `pg_basebackup wrote no WAL range into ${dir}/backup_manifest.`, { context: { engine: ENGINE } });
  const files = [await ctx.artifacts.adopt(`${dirKey}/base.tar`, true), await ctx.artifacts.adopt(`${dirKey}/backup_manifest`, true)];
  const client = await connectPostgres(conn, options.connectTimeoutMs);
  let startWal: string;
  try {
    startWal = (await client.query<{ w: string }>('SELECT pg_walfile_name($1::pg_lsn) AS w', [range['Start-LSN']])).rows[0]?.w ?? '';
  } finally {
    await client.end().catch(() => {});
  }
  // pg_walfile_name uses the server's current timeline; the base backup's own timeline is authoritative.
  startWal = range.Timeline.toString(16).toUpperCase().padStart(8, '0') + startWal.slice(8);
  const info: BaseBackupInfo = { label, startLsn: range['Start-LSN'], endLsn: range['End-LSN'], timeline: range.Timeline, startWal, takenAtMs: Date.now(), files };
  await ctx.artifacts.put(`${dirKey}/info.json`, JSON.stringify(info, null, 2));
  ctx.log.info('base backup taken', { member: ctx.member.name, label, ms: Math.round(performance.now() - started) });
  return info;
}

/** Inside the pause: one restore point, named after the backup. */
export async function capturePitr(ctx: PhaseContext, options: PostgresOptions, pre?: pg.Client): Promise<MemberCapture> {
  const started = performance.now();
  const client = await reuseOrConnect(pre, () => connectPostgres(connectionOf(ctx.member), options.connectTimeoutMs));
  let handle: RestoreHandle;
  try {
    const r = await client.query<{ lsn: string; tli: number }>(
      'SELECT pg_create_restore_point($1)::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli',
      [ctx.backupId.slice(0, 63)],
    );
    handle = { kind: 'named-point', name: ctx.backupId.slice(0, 63), lsn: r.rows[0]?.lsn ?? '', timeline: Number(r.rows[0]?.tli ?? 1) };
  } catch (error) {
    throw new EngineError('CAPTURE_FAILED', `Could not create restore point ${ctx.backupId}: ${(error as Error).message}`, {
      hint: 'The user needs superuser (or EXECUTE on pg_create_restore_point) and wal_level must be replica or logical.',
      context: { engine: ENGINE, member: ctx.member.name, backupId: ctx.backupId },
      cause: error,
    });
  } finally {
    await client.end().catch(() => {});
  }
  const captureMs = performance.now() - started;
  return {
    handle,
    capturedAtMs: Date.now(),
    async finish(phase) {
      const base = await latestBaseBackup<BaseBackupInfo>(phase);
      if (base === undefined) {
        throw new EngineError('BASE_BACKUP_MISSING', `Member ${phase.member.name} has no base backup in ${phase.sharedPrefix}base/.`, {
          hint: 'prepare() takes one; run the backup again.',
          context: { engine: ENGINE, member: phase.member.name },
        });
      }
      const target = await waitArchived(phase, options, handle);
      const wal = await walArtifacts(phase, base.startWal, target);
      const artifacts = [...base.files, ...wal];
      return { handle, artifacts, bytes: artifacts.reduce((s, a) => s + a.bytes, 0), detail: { method: 'pitr', captureMs, base: base.label, walSegments: wal.length } };
    },
    async release() {},
  };
}

/**
 * Waits until the segment holding the handle's LSN is archived, switching WAL when the server is still
 * writing into it. Returns that segment's name. EngineError `HORIZON_TIMEOUT` after `archiveTimeoutMs`.
 */
export async function waitArchived(ctx: PhaseContext, options: PostgresOptions, handle: RestoreHandle): Promise<string> {
  if (handle.kind !== 'named-point') throw new EngineError('HANDLE_KIND', `PostgreSQL PITR expects a named-point handle, got ${handle.kind}.`, { context: { engine: ENGINE } });
  const client = await connectPostgres(connectionOf(ctx.member), options.connectTimeoutMs);
  try {
    const segment = (await client.query<{ w: string }>('SELECT pg_walfile_name($1::pg_lsn) AS w', [handle.lsn])).rows[0]?.w ?? '';
    const started = Date.now();
    let lastLog = started;
    for (;;) {
      if (await segmentArchived(ctx, client, segment)) return segment;
      const current = (await client.query<{ w: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS w')).rows[0]?.w ?? '';
      // Only the segment still being written needs a switch; closed ones are queued for archive_command.
      if (current === segment) await client.query('SELECT pg_switch_wal()');
      if (ctx.signal.aborted) throw new EngineError('ABORTED', 'Waiting for the WAL archive was aborted.', { context: { engine: ENGINE } });
      if (Date.now() - started > options.archiveTimeoutMs) {
        const stats = await archiverStats(client);
        throw new EngineError('HORIZON_TIMEOUT', `WAL segment ${segment} (restore point ${handle.name}) was not archived within ${options.archiveTimeoutMs} ms; last archived ${stats.lastArchivedWal ?? 'none'}, failures ${stats.failedCount}.`, {
          hint: 'Check archive_command and pg_stat_archiver on the server; the backup is not restorable until that segment is archived.',
          context: { engine: ENGINE, member: ctx.member.name, backupId: ctx.backupId },
        });
      }
      if (Date.now() - lastLog > 5_000) {
        lastLog = Date.now();
        ctx.log.info('waiting for WAL archive', { member: ctx.member.name, segment, waitedMs: lastLog - started });
      }
      await sleep(100);
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/** Archived segments from the base backup's start segment through `target`, plus timeline history files. */
async function walArtifacts(ctx: PhaseContext, startWal: string, target: string): Promise<ArtifactRef[]> {
  const prefix = `${ctx.sharedPrefix}wal/`;
  const names = (await ctx.artifacts.list(prefix)).map((k) => k.slice(prefix.length));
  const wanted = names.filter((n) => n.endsWith('.history') || (SEGMENT_NAME.test(n) && n.slice(8) >= startWal.slice(8) && n.slice(8) <= target.slice(8) && n.slice(0, 8) <= target.slice(0, 8)));
  const refs: ArtifactRef[] = [];
  for (const name of wanted.sort()) refs.push(await ctx.artifacts.adopt(`${prefix}${name}`, true));
  return refs;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
