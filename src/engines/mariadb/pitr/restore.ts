/**
 * Restoring a MariaDB PITR backup into a new directory: extract the streamed base backup (`mbstream -x`),
 * `mariabackup --prepare`, `--copy-back` into a new datadir, start a server on a new port, then replay the
 * archived binlogs from the base backup's position up to exactly the captured one
 * (`mariadb-binlog --start-position … --stop-position … | mariadb`).
 * Layout of the target directory: stillpoint-restore.json (marker), backup/ (prepared base), data/ (datadir),
 * binlog/, mysqld.pid, mysqld.sock, error.log. The restored server is detached and outlives the session
 * when the restore succeeds; a failed restore's server is stopped by `close`.
 */
import { constants } from 'node:fs';
import { access, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { EngineError } from '../../../errors.ts';
import type {
  MemberRecord,
  PreflightCheck,
  RestoredMember,
  RestoreOptions,
  RestoreSession,
  RestoreSessionContext,
  RestoreStep,
  RestoreTarget,
  TargetInspection,
} from '../../contract.ts';
import { hasTool, runTool, showCommand, spawnTool, startDetached, waitTool } from '../../tool-runner.ts';
import { closeQuietly, connectMariaDb, toolArgs, toolEnv } from '../connection.ts';
import { refuseUnlessRestorable } from '../../restore-refusal.ts';
import { SessionWork } from '../../session-work.ts';
import { decodeMarker, stateFromMarker, type RestoreMarker } from '../markers.ts';
import {
  backupSuffix,
  connectionOf,
  parsePitrTarget,
  redactedTarget,
  type MariaDbConnection,
  type MariaDbOptions,
  type PitrTarget,
} from '../options.ts';

const ENGINE = 'mariadb';
const MARKER_FILE = 'stillpoint-restore.json';
const TOOLS = ['mbstream', 'mariabackup', 'mariadbd', 'mariadb-binlog', 'mariadb'] as const;
/** A started server that does not accept connections within this is a failed restore. */
const START_TIMEOUT_MS = 120_000;
/** Attempts at a free port when the target asks for any (port 0). */
const PORT_ATTEMPTS = 5;

function osUserOf(options: Pick<MariaDbOptions, 'osUser'>): string | undefined {
  return options.osUser ?? (process.getuid?.() === 0 ? 'mysql' : undefined);
}

function handleOf(record: MemberRecord): { file: string; position: number } {
  const h = record.handle;
  if (h.kind !== 'log-position')
    throw new EngineError('HANDLE_KIND', `MariaDB PITR restores a log-position handle, got ${h.kind}.`, {
      context: { engine: ENGINE },
    });
  return h;
}

function binlogRefs(record: MemberRecord, stopFile: string): string[] {
  return record.artifacts
    .filter((a) => a.key.includes('/binlog/') && a.key.slice(a.key.lastIndexOf('/') + 1) <= stopFile)
    .map((a) => a.key)
    .sort();
}

function baseKey(record: MemberRecord): string {
  const ref = record.artifacts.find((a) => a.key.endsWith('/backup.xbstream'));
  if (ref === undefined)
    throw new EngineError(
      'ARTIFACT_MISSING',
      `Backup ${record.backupId} lists no base backup for ${record.member.name}.`,
      { context: { engine: ENGINE } },
    );
  return ref.key;
}

export function defaultPitrDir(record: MemberRecord): string {
  return join(tmpdir(), `stillpoint-restore-${record.member.name}-${backupSuffix(record.backupId)}`);
}

export class PitrRestore implements RestoreSession {
  readonly target: RestoreTarget;
  private readonly t: PitrTarget;
  private readonly work = new SessionWork(ENGINE);
  /** Set once this session started a server; `close` stops it unless the restore succeeded. */
  private started = false;
  private succeeded = false;

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: MariaDbOptions,
  ) {
    this.t = parsePitrTarget(ctx.target, connectionOf(ctx.record.member), defaultPitrDir(ctx.record));
    this.target = redactedTarget(this.t);
  }

  private marker(state: RestoreMarker['state']): string {
    return `${JSON.stringify({ backupId: this.ctx.record.backupId, member: this.ctx.record.member.name, state }, null, 2)}\n`;
  }

  plan(): Promise<readonly RestoreStep[]> {
    const { dir } = this.t;
    const h = handleOf(this.ctx.record);
    return Promise.resolve([
      {
        title: `Check that ${dir} is absent, empty or an unfinished restore of this backup (else --force stops its server and deletes it)`,
        destructive: true,
      },
      {
        title: `Mark ${dir} as an in-progress restore of ${this.ctx.record.backupId}`,
        detail: join(dir, MARKER_FILE),
        destructive: false,
      },
      {
        title: 'Extract the base backup',
        detail: `mbstream -x -C ${join(dir, 'backup')} < ${this.ctx.artifacts.localPath(baseKey(this.ctx.record)) ?? baseKey(this.ctx.record)}`,
        destructive: false,
      },
      {
        title: 'Prepare it',
        detail: showCommand('mariabackup', ['--prepare', `--target-dir=${join(dir, 'backup')}`]),
        destructive: false,
      },
      {
        title: 'Copy back into a new datadir',
        detail: showCommand('mariabackup', [
          '--copy-back',
          `--target-dir=${join(dir, 'backup')}`,
          `--datadir=${join(dir, 'data')}`,
        ]),
        destructive: false,
      },
      {
        title: `Start mariadbd on ${this.t.host}:${this.t.port === 0 ? '(a free port)' : this.t.port}`,
        destructive: false,
      },
      {
        title: `Replay ${binlogRefs(this.ctx.record, h.file).length} binlogs up to ${h.file}:${h.position}`,
        detail: `mariadb-binlog --start-position=<xtrabackup_binlog_info> --stop-position=${h.position} … | mariadb --host=${this.t.host} --port=<port> --user=${this.t.connection.user}`,
        destructive: false,
      },
    ]);
  }

  async inspect(signal: AbortSignal): Promise<TargetInspection> {
    signal.throwIfAborted();
    const { dir } = this.t;
    const checks: PreflightCheck[] = TOOLS.map((tool) =>
      hasTool(tool)
        ? { name: `tool ${tool}`, ok: true, detail: tool }
        : {
            name: `tool ${tool}`,
            ok: false,
            detail: `TOOL_MISSING: ${tool}`,
            hint: 'Install mariadb-server, mariadb-client and mariadb-backup (the same major version as the backed-up server).',
          },
    );
    checks.push(await writableCheck(dir));
    if (this.ctx.artifacts.localPath(baseKey(this.ctx.record)) === undefined) {
      checks.push({
        name: 'artifact store',
        ok: false,
        detail: 'binlog replay needs an artifact store with local paths',
        hint: 'Restore from a file:// artifact store.',
      });
    }
    const entries = await readdir(dir).catch(() => undefined);
    if (entries === undefined) return { checks, state: 'absent', detail: `${dir} does not exist` };
    if (entries.length === 0) return { checks, state: 'empty', detail: `${dir} is empty` };
    const marker = decodeMarker(await readFile(join(dir, MARKER_FILE), 'utf8').catch(() => undefined));
    const state = stateFromMarker(marker, this.ctx.record.backupId, this.ctx.record.member.name, true);
    const remove = `stop its server (kill $(cat ${join(dir, 'mysqld.pid')})) and delete it (rm -rf ${dir})`;
    const detail = `${dir} holds ${entries.length} entries${marker ? ` (${marker.state} restore of backup ${marker.backupId}, member ${marker.member})` : ''}`;
    switch (state) {
      case 'in-progress':
        return {
          checks,
          state,
          detail,
          hint: 'The leftover of an unfinished restore of this backup: its server is stopped and it is restored again.',
        };
      case 'restored':
        return {
          checks,
          state,
          detail,
          hint: `Restored from this backup earlier and possibly written to since. Pass --force to restore over it, or ${remove}.`,
        };
      default:
        return {
          checks,
          state,
          detail,
          hint:
            marker?.state === 'in-progress'
              ? `The leftover of an unfinished restore of backup ${marker.backupId}: ${remove}, or pass --force.`
              : `Choose another dir for the restore target, or ${remove}, or pass --force.`,
        };
    }
  }

  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    refuseUnlessRestorable(await this.inspect(opts.signal), opts, { engine: ENGINE, target: this.t.dir });
    const restored = await this.work.run(opts.signal, (signal) => this.run(signal));
    this.succeeded = true;
    return restored;
  }

  private async run(signal: AbortSignal): Promise<RestoredMember> {
    const { ctx, t } = this;
    const h = handleOf(ctx.record);
    const osUser = osUserOf(this.options);
    await this.clearAndMark(t.dir);
    const backupDir = join(t.dir, 'backup');
    const dataDir = join(t.dir, 'data');
    await mkdir(backupDir, { recursive: true, mode: 0o700 });
    await mkdir(join(t.dir, 'binlog'), { mode: 0o700 });
    await runTool('mbstream', ['-x', '-C', backupDir], {
      stdin: await ctx.artifacts.get(baseKey(ctx.record)),
      signal,
      engine: ENGINE,
    });
    await runTool('mariabackup', ['--prepare', `--target-dir=${backupDir}`], { signal, engine: ENGINE });
    await runTool('mariabackup', ['--copy-back', `--target-dir=${backupDir}`, `--datadir=${dataDir}`], {
      signal,
      engine: ENGINE,
    });
    if (osUser !== undefined && process.getuid?.() === 0)
      await runTool('chown', ['-R', `${osUser}:`, t.dir], { signal, engine: ENGINE });
    const conn = await this.startServer(osUser, signal);
    const [startFile, startPos] = (await readFile(join(backupDir, 'xtrabackup_binlog_info'), 'utf8'))
      .trim()
      .split(/\s+/);
    const files: string[] = [];
    for (const key of binlogRefs(ctx.record, h.file)) {
      const name = key.slice(key.lastIndexOf('/') + 1);
      if (startFile !== undefined && name < startFile) continue;
      const local = join(t.dir, 'binlog', name);
      const path = ctx.artifacts.localPath(key);
      if (path === undefined)
        throw new EngineError('STORE_NOT_LOCAL', 'Binlog replay needs an artifact store with local paths.', {
          context: { engine: ENGINE },
        });
      await copyFile(path, local);
      files.push(local);
    }
    if (files.length > 0) await replay(files, Number(startPos ?? 4), h.position, conn, signal);
    ctx.log.info('restored MariaDB', {
      dir: t.dir,
      port: conn.port,
      replayedBinlogs: files.length,
      stop: `${h.file}:${h.position}`,
    });
    return { connection: conn };
  }

  /** Marker first (in-progress), then whatever else the directory held goes (its server stopped). */
  private async clearAndMark(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, MARKER_FILE), this.marker('in-progress'), { mode: 0o600 });
    await stopRestoredMariaDb(dir);
    for (const entry of await readdir(dir))
      if (entry !== MARKER_FILE) await rm(join(dir, entry), { recursive: true, force: true });
  }

  /**
   * Starts mariadbd on the target. With port 0 a free port is picked and, should another process take it
   * before mariadbd binds it, the start is retried on another one; the server that answers is checked to be
   * OURS (its datadir), so the restore never talks to a stranger on a reused port.
   */
  private async startServer(osUser: string | undefined, signal: AbortSignal): Promise<MariaDbConnection> {
    const { dir, host } = this.t;
    for (let attempt = 1; ; attempt++) {
      const port = this.t.port === 0 ? await candidatePort(host) : this.t.port;
      const conn: MariaDbConnection = { ...this.t.connection, port };
      const outcome = await this.startOnce(port, osUser, conn, signal);
      if (outcome === 'started') return conn;
      if (outcome === 'port-taken' && this.t.port === 0 && attempt < PORT_ATTEMPTS) continue;
      const log = (await readFile(join(dir, 'error.log'), 'utf8').catch(() => ''))
        .split('\n')
        .slice(-10)
        .join('\n');
      throw new EngineError(
        'RESTORE_FAILED',
        `The restored server on ${host}:${port} did not start (${outcome}).\n${log}`,
        {
          hint:
            outcome === 'port-taken'
              ? `Port ${port} is in use: give the restore target another port (or 0 for any free one).`
              : `See ${join(dir, 'error.log')}${osUser ? `; the server runs as OS user ${osUser}, who must be able to reach ${dir} (every parent directory traversable)` : ''}.`,
          context: { engine: ENGINE, target: dir },
        },
      );
    }
  }

  private async startOnce(
    port: number,
    osUser: string | undefined,
    conn: MariaDbConnection,
    signal: AbortSignal,
  ): Promise<'started' | 'port-taken' | 'exited' | 'timeout' | 'not ours'> {
    const { dir, host } = this.t;
    await rm(join(dir, 'error.log'), { force: true });
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
    // Detached: the restored server outlives this process; stopRestoredMariaDb stops it through its pid file.
    const child = startDetached('mariadbd', args);
    this.started = true;
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', () => (exited = true));
    const deadline = Date.now() + START_TIMEOUT_MS;
    const datadir = resolve(dir, 'data');
    while (Date.now() < deadline) {
      signal.throwIfAborted();
      if (exited) {
        const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
        return /Address already in use|Bind on TCP\/IP port/i.test(log) ? 'port-taken' : 'exited';
      }
      let c: mysql.Connection | undefined;
      try {
        c = await connectMariaDb(conn, this.options.connectTimeoutMs);
        const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT @@datadir AS d');
        return resolve(String(rows[0]?.d ?? '')) === datadir ? 'started' : 'not ours';
      } catch {
        await sleep(200, undefined, { signal }).catch(() => undefined);
      } finally {
        if (c) await closeQuietly(c);
      }
    }
    return 'timeout';
  }

  async markFinished(): Promise<void> {
    await writeFile(join(this.t.dir, MARKER_FILE), this.marker('restored'), { mode: 0o600 });
  }

  async close(): Promise<void> {
    await this.work.close();
    if (this.started && !this.succeeded) await stopRestoredMariaDb(this.t.dir).catch(() => undefined);
  }
}

/** A port that was free a moment ago; {@link PitrRestore.startServer} copes with losing it. */
function candidatePort(host: string): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, host, () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? ok(address.port) : fail(new Error('no port')),
      );
    });
  });
}

async function writableCheck(dir: string): Promise<PreflightCheck> {
  let probe = dir;
  while (true) {
    try {
      await access(probe, constants.W_OK);
      return { name: 'target writable', ok: true, detail: `${probe} is writable` };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(probe) === probe) {
        return {
          name: 'target writable',
          ok: false,
          detail: `${probe} is not writable`,
          hint: 'Choose a dir this process may create and write.',
        };
      }
      probe = dirname(probe);
    }
  }
}

/** `mariadb-binlog … | mariadb`: start position applies to the first file, stop position to the last. */
async function replay(
  files: readonly string[],
  start: number,
  stop: number,
  conn: MariaDbConnection,
  signal: AbortSignal,
): Promise<void> {
  const binlogArgs = [`--start-position=${start}`, `--stop-position=${stop}`, ...files];
  const reader = spawnTool('mariadb-binlog', binlogArgs);
  const clientArgs = [...toolArgs(conn), '--binary-mode'];
  await Promise.all([
    waitTool(reader, 'mariadb-binlog', binlogArgs, { signal, engine: ENGINE, stdoutTaken: true }),
    runTool('mariadb', clientArgs, { env: toolEnv(conn), stdin: reader.stdout!, signal, engine: ENGINE }),
  ]);
}

/** Stops a server started by a PITR restore in `dir` (no-op when none runs there): SIGTERM, then SIGKILL after 60 s. */
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
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}
