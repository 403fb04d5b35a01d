/**
 * Restoring a MariaDB PITR backup into a new directory: extract the streamed base backup (`mbstream -x`),
 * `mariabackup --prepare`, `--copy-back` into a new datadir, start a server on a new port, then replay the
 * archived binlogs from the base backup's position up to exactly the captured one
 * (`mariadb-binlog --start-position … --stop-position … | mariadb`).
 * Layout of the target directory `dir`: backup/ (prepared base), data/ (datadir), binlog/, mysqld.pid, error.log.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, EngineError } from '../../errors.ts';
import { freePort, waitFor } from '../../local-servers/process.ts';
import type { MemberRecord, RestoreContext, RestoredMember, RestoreStep, RestoreTarget } from '../contract.ts';
import { runTool, showCommand, spawnTool, waitTool } from '../tool-runner.ts';
import { connectMariaDb, toolArgs, toolEnv } from './mariadb-connection.ts';
import { backupSuffix, connectionOf, type MariaDbConnection, type MariaDbOptions } from './mariadb-options.ts';

const ENGINE = 'mariadb';

export type PitrDirTarget = { readonly dir: string; readonly port: number; readonly host: string };

const targetSchema = z.object({ dir: z.string().min(1), port: z.number().int().min(0), host: z.string() }).partial().strict();

export function parsePitrDirTarget(record: MemberRecord, target: RestoreTarget | undefined): PitrDirTarget {
  const parsed = targetSchema.safeParse(target ?? {});
  if (!parsed.success) {
    throw new ConfigError('RESTORE_TARGET_INVALID', `Restore target is invalid: ${parsed.error.issues[0]?.message ?? ''}.`, {
      hint: 'A mariadb pitr target takes dir (a new directory), port (0 = free) and host.',
      context: { engine: ENGINE },
    });
  }
  const defaults = { dir: join(tmpdir(), `stillpoint-restore-${record.member.name}-${backupSuffix(record.backupId)}`), port: 0, host: '127.0.0.1' };
  return { ...defaults, ...Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) };
}

function osUserOf(options: Pick<MariaDbOptions, 'osUser'>): string | undefined {
  return options.osUser ?? (process.getuid?.() === 0 ? 'mysql' : undefined);
}

function handleOf(record: MemberRecord): { file: string; position: number } {
  const h = record.handle;
  if (h.kind !== 'log-position') throw new EngineError('HANDLE_KIND', `MariaDB PITR restores a log-position handle, got ${h.kind}.`, { context: { engine: ENGINE } });
  return h;
}

function binlogRefs(record: MemberRecord, stopFile: string): string[] {
  return record.artifacts.filter((a) => a.key.includes('/binlog/') && a.key.slice(a.key.lastIndexOf('/') + 1) <= stopFile).map((a) => a.key).sort();
}

function baseKey(record: MemberRecord): string {
  const ref = record.artifacts.find((a) => a.key.endsWith('/backup.xbstream'));
  if (ref === undefined) throw new EngineError('ARTIFACT_MISSING', `Backup ${record.backupId} lists no base backup for ${record.member.name}.`, { context: { engine: ENGINE } });
  return ref.key;
}

export function planPitrRestore(ctx: RestoreContext): RestoreStep[] {
  const t = parsePitrDirTarget(ctx.record, ctx.target);
  const h = handleOf(ctx.record);
  return [
    { title: ctx.force ? `Stop any server in ${t.dir} and delete it (force)` : `Check that ${t.dir} is absent or empty`, destructive: ctx.force },
    { title: 'Extract the base backup', detail: `mbstream -x -C ${join(t.dir, 'backup')} < ${ctx.artifacts.localPath(baseKey(ctx.record)) ?? baseKey(ctx.record)}`, destructive: false },
    { title: 'Prepare it', detail: showCommand('mariabackup', ['--prepare', `--target-dir=${join(t.dir, 'backup')}`]), destructive: false },
    { title: 'Copy back into a new datadir', detail: showCommand('mariabackup', ['--copy-back', `--target-dir=${join(t.dir, 'backup')}`, `--datadir=${join(t.dir, 'data')}`]), destructive: false },
    { title: `Start mariadbd on port ${t.port === 0 ? '(a free port)' : t.port}`, destructive: false },
    {
      title: `Replay ${binlogRefs(ctx.record, h.file).length} binlogs up to ${h.file}:${h.position}`,
      detail: `mariadb-binlog --start-position=<xtrabackup_binlog_info> --stop-position=${h.position} … | mariadb --host=${t.host} --port=${t.port}`,
      destructive: false,
    },
  ];
}

export async function restorePitr(ctx: RestoreContext, options: MariaDbOptions): Promise<RestoredMember> {
  const parsed = parsePitrDirTarget(ctx.record, ctx.target);
  const t = { ...parsed, port: parsed.port === 0 ? await freePort() : parsed.port };
  const h = handleOf(ctx.record);
  const osUser = osUserOf(options);
  await clearTarget(t.dir, ctx.force);
  const backupDir = join(t.dir, 'backup');
  const dataDir = join(t.dir, 'data');
  await mkdir(backupDir, { recursive: true });
  await mkdir(join(t.dir, 'binlog'));
  await runTool('mbstream', ['-x', '-C', backupDir], { stdin: await ctx.artifacts.get(baseKey(ctx.record)), signal: ctx.signal, engine: ENGINE });
  await runTool('mariabackup', ['--prepare', `--target-dir=${backupDir}`], { signal: ctx.signal, engine: ENGINE });
  await runTool('mariabackup', ['--copy-back', `--target-dir=${backupDir}`, `--datadir=${dataDir}`], { signal: ctx.signal, engine: ENGINE });
  if (osUser !== undefined && process.getuid?.() === 0) await runTool('chown', ['-R', `${osUser}:`, t.dir], { engine: ENGINE });
  const source = connectionOf(ctx.record.member);
  const conn: MariaDbConnection = { ...source, host: t.host, port: t.port };
  await startServer(t.dir, t.host, t.port, osUser, conn, options);
  const [startFile, startPos] = (await readFile(join(backupDir, 'xtrabackup_binlog_info'), 'utf8')).trim().split(/\s+/);
  const files: string[] = [];
  for (const key of binlogRefs(ctx.record, h.file)) {
    const name = key.slice(key.lastIndexOf('/') + 1);
    if (startFile !== undefined && name < startFile) continue;
    const local = join(t.dir, 'binlog', name);
    const path = ctx.artifacts.localPath(key);
    if (path === undefined) throw new EngineError('STORE_NOT_LOCAL', 'Binlog replay needs an artifact store with local paths.', { context: { engine: ENGINE } });
    await copyFile(path, local);
    files.push(local);
  }
  if (files.length > 0) await replay(files, Number(startPos ?? 4), h.position, conn, ctx.signal);
  ctx.log.info('restored MariaDB', { dir: t.dir, port: t.port, replayedBinlogs: files.length, stop: `${h.file}:${h.position}` });
  return { connection: conn };
}

/** `mariadb-binlog … | mariadb`: start position applies to the first file, stop position to the last. */
async function replay(files: readonly string[], start: number, stop: number, conn: MariaDbConnection, signal: AbortSignal): Promise<void> {
  const binlogArgs = [`--start-position=${start}`, `--stop-position=${stop}`, ...files];
  const reader = spawnTool('mariadb-binlog', binlogArgs);
  const clientArgs = [...toolArgs(conn), '--binary-mode'];
  await Promise.all([
    waitTool(reader, 'mariadb-binlog', binlogArgs, { signal, engine: ENGINE, stdoutTaken: true }),
    runTool('mariadb', clientArgs, { env: toolEnv(conn), stdin: reader.stdout!, signal, engine: ENGINE }),
  ]);
}

async function clearTarget(dir: string, force: boolean): Promise<void> {
  const entries = existsSync(dir) ? await readdir(dir) : [];
  if (entries.length === 0) return;
  if (!force) {
    throw new EngineError('RESTORE_TARGET_NOT_EMPTY', `Directory ${dir} is not empty.`, {
      hint: 'Choose another dir in the restore target, or pass --force to stop its server and delete it.',
      context: { engine: ENGINE, target: dir },
    });
  }
  await stopRestoredMariaDb(dir);
  await rm(dir, { recursive: true, force: true });
}

async function startServer(dir: string, host: string, port: number, osUser: string | undefined, conn: MariaDbConnection, options: MariaDbOptions): Promise<void> {
  const args = [
    '--no-defaults',
    `--datadir=${join(dir, 'data')}`,
    `--port=${port}`,
    `--bind-address=${host}`,
    `--socket=${join(dir, 'mysqld.sock')}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    `--log-error=${join(dir, 'error.log')}`,
    '--skip-log-bin',
    '--server-id=2',
    '--skip-name-resolve',
    '--innodb-buffer-pool-size=64M',
    ...(osUser ? [`--user=${osUser}`] : []),
  ];
  // Detached: the restored server outlives this call; stopRestoredMariaDb stops it through its pid file.
  const child = spawn('mariadbd', args, { stdio: 'ignore', detached: true });
  child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new Error('mariadbd exited');
      const c = await connectMariaDb(conn, options.connectTimeoutMs);
      await c.end();
      return true;
    },
    120_000,
    `the restored MariaDB on port ${port}`,
  ).catch(async (error: unknown) => {
    const log = (await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')).split('\n').slice(-10).join('\n');
    throw new EngineError('RESTORE_FAILED', `The restored server did not start: ${(error as Error).message}\n${log}`, { context: { engine: ENGINE }, cause: error });
  });
}

/** Stops a server started by {@link restorePitr} in `dir` (no-op when none runs there). */
export async function stopRestoredMariaDb(dir: string): Promise<void> {
  const pid = Number((await readFile(join(dir, 'mysqld.pid'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(pid, 'SIGKILL');
}
