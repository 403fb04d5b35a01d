/**
 * Restoring a PostgreSQL PITR backup: a new data directory from the base backup, the archived WAL next to it,
 * `recovery.signal` with `restore_command` and `recovery_target_name`, `recovery_target_action = promote`,
 * and a server started on a new port. The restore ends when that server has left recovery.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { EngineError } from '../../errors.ts';
import { freePort } from '../../local-servers/process.ts';
import type { MemberRecord, RestoreContext, RestoredMember, RestoreStep } from '../contract.ts';
import { runTool, showCommand } from '../tool-runner.ts';
import { connectPostgres, pgTool } from './postgres-connection.ts';
import { backupSuffix, connectionOf, parsePitrTarget, type PitrTarget, type PostgresConnection, type PostgresOptions } from './postgres-options.ts';

const ENGINE = 'postgres';
const WAL_DIR = 'stillpoint-restore-wal';

export function defaultPitrTarget(record: MemberRecord): PitrTarget {
  return { dataDir: join(tmpdir(), `stillpoint-restore-${record.member.name}-${backupSuffix(record.backupId)}`), port: 0, host: '127.0.0.1' };
}

function osUserOf(options: PostgresOptions): string | undefined {
  return options.osUser ?? (process.getuid?.() === 0 ? 'postgres' : undefined);
}

function recoveryTarget(record: MemberRecord): string[] {
  const h = record.handle;
  if (h.kind !== 'named-point') {
    throw new EngineError('HANDLE_KIND', `PostgreSQL PITR restores a named-point handle, got ${h.kind}.`, { context: { engine: ENGINE, backupId: record.backupId } });
  }
  return [`recovery_target_name = '${h.name.replaceAll("'", "''")}'`, `recovery_target_action = 'promote'`];
}

function baseTar(ctx: RestoreContext): string {
  const tar = ctx.record.artifacts.find((a) => /\/base\/[^/]+\/base\.tar$/.test(a.key));
  if (tar === undefined) {
    throw new EngineError('ARTIFACT_MISSING', `Backup ${ctx.record.backupId} lists no base backup for member ${ctx.record.member.name}.`, {
      context: { engine: ENGINE, backupId: ctx.record.backupId },
    });
  }
  return tar.key;
}

export function planPitrRestore(ctx: RestoreContext, options: PostgresOptions): RestoreStep[] {
  const t = parsePitrTarget(ctx.target, defaultPitrTarget(ctx.record));
  const wal = ctx.record.artifacts.filter((a) => a.key.includes('/wal/'));
  return [
    ...(ctx.force ? [{ title: `Stop any server on ${t.dataDir} and delete it (force)`, destructive: true }] : [{ title: `Check that ${t.dataDir} is absent or empty`, destructive: false }]),
    { title: 'Extract the base backup', detail: showCommand('tar', ['-xf', ctx.artifacts.localPath(baseTar(ctx)) ?? baseTar(ctx), '-C', t.dataDir]), destructive: false },
    { title: `Copy ${wal.length} archived WAL files`, detail: join(t.dataDir, WAL_DIR), destructive: false },
    { title: 'Configure recovery', detail: [...recoveryTarget(ctx.record), `restore_command = 'cp ${join(t.dataDir, WAL_DIR)}/%f %p'`, 'archive_mode = off', 'recovery.signal'].join('; '), destructive: false },
    { title: `Start a server on port ${t.port === 0 ? '(a free port)' : t.port} and wait for promotion`, detail: showCommand(pgTool('pg_ctl', options.binDir), ['-D', t.dataDir, '-w', 'start']), destructive: false },
  ];
}

async function clearTarget(t: PitrTarget, force: boolean, options: PostgresOptions): Promise<void> {
  const entries = existsSync(t.dataDir) ? await readdir(t.dataDir) : [];
  if (entries.length === 0) return;
  if (!force) {
    throw new EngineError('RESTORE_TARGET_NOT_EMPTY', `Data directory ${t.dataDir} is not empty.`, {
      hint: 'Choose another dataDir in the restore target, or pass --force to stop its server and delete it.',
      context: { engine: ENGINE, target: t.dataDir },
    });
  }
  await stopRestoredPostgres(t.dataDir, options);
  await rm(t.dataDir, { recursive: true, force: true });
}

/** Restores into a new data directory and starts a server on it; the caller stops it ({@link stopRestoredPostgres}). */
export async function restorePitr(ctx: RestoreContext, options: PostgresOptions): Promise<RestoredMember> {
  const parsed = parsePitrTarget(ctx.target, defaultPitrTarget(ctx.record));
  const t: PitrTarget = { ...parsed, port: parsed.port === 0 ? await freePort() : parsed.port };
  const osUser = osUserOf(options);
  await clearTarget(t, ctx.force, options);
  await mkdir(t.dataDir, { recursive: true, mode: 0o700 });
  const tarKey = baseTar(ctx);
  const tarPath = ctx.artifacts.localPath(tarKey);
  if (tarPath !== undefined) await runTool('tar', ['-xf', tarPath, '-C', t.dataDir], { signal: ctx.signal, engine: ENGINE });
  else await runTool('tar', ['-xf', '-', '-C', t.dataDir], { signal: ctx.signal, engine: ENGINE, stdin: await ctx.artifacts.get(tarKey) });
  const walDir = join(t.dataDir, WAL_DIR);
  await mkdir(walDir);
  for (const ref of ctx.record.artifacts.filter((a) => a.key.includes('/wal/'))) {
    const name = ref.key.slice(ref.key.lastIndexOf('/') + 1);
    const local = ctx.artifacts.localPath(ref.key);
    if (local !== undefined) await copyFile(local, join(walDir, name));
    else await pipeline(await ctx.artifacts.get(ref.key), createWriteStream(join(walDir, name)));
  }
  const conf = [
    '',
    '# stillpoint restore: recovery to the backup\'s restore point, on a new port, never archiving into the source\'s archive',
    `port = ${t.port}`,
    `listen_addresses = '${t.host}'`,
    `unix_socket_directories = '${t.dataDir}'`,
    'archive_mode = off',
    `restore_command = 'cp "${walDir}/%f" "%p"'`,
    ...recoveryTarget(ctx.record),
    '',
  ];
  await appendFile(join(t.dataDir, 'postgresql.auto.conf'), conf.join('\n'));
  await writeFile(join(t.dataDir, 'recovery.signal'), '');
  if (osUser !== undefined && process.getuid?.() === 0) await runTool('chown', ['-R', `${osUser}:`, t.dataDir], { engine: ENGINE });
  const log = join(t.dataDir, 'stillpoint-restore.log');
  ctx.log.info('starting restored PostgreSQL', { dataDir: t.dataDir, port: t.port });
  try {
    await runTool(pgTool('pg_ctl', options.binDir), ['-D', t.dataDir, '-l', log, '-w', '-t', '600', 'start'], { user: osUser, signal: ctx.signal, engine: ENGINE, timeoutMs: 660_000 });
  } catch (error) {
    const tail = (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
    throw new EngineError('RESTORE_FAILED', `The restored server on ${t.dataDir} did not start: ${tail}`, {
      hint: 'A missing WAL segment stops recovery before the target; check the WAL archive of this member.',
      context: { engine: ENGINE, backupId: ctx.record.backupId },
      cause: error,
    });
  }
  const source = connectionOf(ctx.record.member);
  const conn: PostgresConnection = { ...source, host: t.host, port: t.port };
  await waitPromoted(conn, options, ctx.signal, log);
  return { connection: conn };
}

/** Polls until the server has left recovery (promoted at the target); RESTORE_NOT_PROMOTED after 10 min. */
async function waitPromoted(conn: PostgresConnection, options: PostgresOptions, signal: AbortSignal, log: string): Promise<void> {
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline && !signal.aborted) {
    const client = await connectPostgres(conn, options.connectTimeoutMs).catch(() => undefined);
    if (client) {
      try {
        const r = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        if (r.rows[0]?.r === false) return;
      } finally {
        await client.end().catch(() => {});
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new EngineError('RESTORE_NOT_PROMOTED', `The restored server did not leave recovery; see ${log}.`, { context: { engine: ENGINE } });
}

/** Stops a server started by {@link restorePitr} (no-op when none runs there). */
export async function stopRestoredPostgres(dataDir: string, options: Pick<PostgresOptions, 'binDir' | 'osUser'> = {}): Promise<void> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  await runTool(pgTool('pg_ctl', options.binDir), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], {
    user: osUserOf(options as PostgresOptions),
    engine: ENGINE,
    timeoutMs: 120_000,
  }).catch(() => {});
}
