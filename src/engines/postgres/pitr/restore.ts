/**
 * PostgreSQL PITR restore session: a new data directory from the base backup, the archived WAL next to it,
 * `recovery.signal` with `restore_command` and `recovery_target_name`, `recovery_target_action = promote`,
 * and a server started on the target's port. The restore ends when that server has left recovery; the
 * server keeps running afterwards (it IS the restored member; stop it with `pg_ctl -D <dataDir> stop` or
 * {@link stopRestoredPostgres}). A server this session started is stopped by `close()` when the restore did
 * not complete.
 *
 * Port: the target's `port`, default the source's port + 1. It is never probed-and-released: `inspect`
 * refuses a port something already listens on, and the user names another.
 *
 * Restore marker: the file `<dataDir>/stillpoint-restore.json` = `{ backupId, state }`, written
 * "in-progress" right after the data directory is created (before anything is extracted) and set to
 * "restored" by `markFinished()`.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
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
import { pollUntil } from '../../settle.ts';
import { SessionWork } from '../../session-work.ts';
import { hasTool, runTool, showCommand } from '../../tool-runner.ts';
import { connectPostgres, endClient, pgTool, quoteLiteral, sameServer } from '../connection.ts';
import {
  backupSuffix,
  connectionOf,
  memberCredentials,
  parsePitrTarget,
  targetConnection,
  type PitrTarget,
  type PostgresOptions,
} from '../options.ts';

const ENGINE = 'postgres';
const WAL_DIR = 'stillpoint-restore-wal';
const MARKER_FILE = 'stillpoint-restore.json';
const PROMOTE_TIMEOUT_MS = 600_000;
export class PostgresPitrRestore implements RestoreSession {
  readonly target: PitrTarget;
  private readonly work = new SessionWork(ENGINE);
  /** Set once pg_ctl start ran, cleared when restore returned: close() stops a half-restored server. */
  private startedServer = false;

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: PostgresOptions,
  ) {
    const parsed = parsePitrTarget(ctx.target ?? {}, defaultPitrTarget(ctx.record));
    this.target = { ...parsed, dataDir: resolve(parsed.dataDir) };
  }

  private get osUser(): string | undefined {
    return osUserOf(this.options);
  }

  plan(): Promise<readonly RestoreStep[]> {
    const t = this.target;
    const wal = this.ctx.record.artifacts.filter((a) => a.key.includes('/wal/'));
    const tar = this.baseTar();
    return Promise.resolve([
      {
        title: `Check that ${t.dataDir} is absent, empty or a leftover of this restore, and that port ${t.port} is free`,
        destructive: false,
      },
      {
        title: `Stop any server on ${t.dataDir} and delete it (a leftover of this restore, or --force)`,
        destructive: true,
      },
      {
        title: 'Mark the data directory in-progress',
        detail: join(t.dataDir, MARKER_FILE),
        destructive: false,
      },
      {
        title: 'Extract the base backup',
        detail: showCommand('tar', ['-xf', this.ctx.artifacts.localPath(tar) ?? tar, '-C', t.dataDir]),
        destructive: false,
      },
      {
        title: `Copy ${wal.length} archived WAL files`,
        detail: join(t.dataDir, WAL_DIR),
        destructive: false,
      },
      {
        title: 'Configure recovery',
        detail: [
          ...recoveryTarget(this.ctx.record),
          `restore_command = 'cp ${join(t.dataDir, WAL_DIR)}/%f %p'`,
          'archive_mode = off',
          'recovery.signal',
        ].join('; '),
        destructive: false,
      },
      {
        title: `Start a server on ${t.host}:${t.port} and wait for promotion`,
        detail: showCommand(pgTool('pg_ctl', this.options.binDir), ['-D', t.dataDir, '-w', 'start']),
        destructive: false,
      },
    ]);
  }

  inspect(signal: AbortSignal): Promise<TargetInspection> {
    return this.work.track(this.inspectTarget(this.work.signal(signal)));
  }

  private async inspectTarget(signal: AbortSignal): Promise<TargetInspection> {
    const t = this.target;
    const checks: PreflightCheck[] = ['pg_ctl'].map((tool) => {
      const path = pgTool(tool, this.options.binDir);
      return hasTool(path)
        ? { name: `tool ${tool}`, ok: true, detail: path }
        : {
            name: `tool ${tool}`,
            ok: false,
            detail: `TOOL_MISSING: ${path}`,
            hint: 'Install the PostgreSQL server binaries or set options.binDir.',
          };
    });
    const source = connectionOf(this.ctx.record.member);
    if (sameServer(t, source) || (await this.sourceDataDir(signal)) === t.dataDir) {
      return {
        checks,
        state: 'live-source',
        detail: `${t.host}:${t.port} (${t.dataDir}) is the member's live source server`,
        hint: 'Choose another dataDir and port; overwriting the source needs --force and --overwrite-source (its current data is lost).',
      };
    }
    const marker = await readMarker(t.dataDir);
    const ours = marker?.backupId === this.ctx.record.backupId;
    const ourServerRuns = existsSync(join(t.dataDir, 'postmaster.pid'));
    if (!ourServerRuns && (await listening(t.host, t.port, signal))) {
      checks.push({
        name: 'port free',
        ok: false,
        detail: `something already listens on ${t.host}:${t.port}`,
        hint: 'Give the restore target another "port".',
      });
    } else checks.push({ name: 'port free', ok: true, detail: `${t.host}:${t.port}` });
    if (!existsSync(t.dataDir)) return { checks, state: 'absent', detail: `${t.dataDir} does not exist` };
    const entries = await readdir(t.dataDir);
    if (entries.length === 0) return { checks, state: 'empty', detail: `${t.dataDir} is empty` };
    if (ours && marker.state === 'in-progress') {
      return {
        checks,
        state: 'in-progress',
        detail: `${t.dataDir} is the leftover of an unfinished restore of this backup`,
        hint: 'It is stopped, removed and redone without --force.',
      };
    }
    if (ours) {
      return {
        checks,
        state: 'restored',
        detail: `${t.dataDir} holds a finished restore of this backup, which may have been written to since`,
        hint: 'Pass --force to stop its server, delete it and restore again, or choose another dataDir.',
      };
    }
    return {
      checks,
      state: 'foreign',
      detail: `${t.dataDir} holds ${entries.length} entries this restore did not write`,
      hint: 'Choose another dataDir, or pass --force to stop its server and delete it.',
    };
  }

  /** The source server's data directory when the member's user may read it (superuser), else undefined. */
  private async sourceDataDir(signal: AbortSignal): Promise<string | undefined> {
    const source = connectionOf(this.ctx.record.member);
    const client = await connectPostgres(
      source,
      this.options.connectTimeoutMs,
      source.database,
      signal,
    ).catch(() => undefined);
    if (client === undefined) return undefined;
    try {
      return (await client.query<{ d: string }>('SHOW data_directory')).rows[0]?.d;
    } catch {
      return undefined;
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
      target: t.dataDir,
    });
    if (inspection.state !== 'absent' && inspection.state !== 'empty') {
      await stopRestoredPostgres(t.dataDir, this.options);
      await rm(t.dataDir, { recursive: true, force: true });
    }
    await mkdir(t.dataDir, { recursive: true, mode: 0o700 });
    await this.writeMarker('in-progress');
    const tarKey = this.baseTar();
    const tarPath = this.ctx.artifacts.localPath(tarKey);
    if (tarPath !== undefined)
      await runTool('tar', ['-xf', tarPath, '-C', t.dataDir], { signal, engine: ENGINE });
    else
      await runTool('tar', ['-xf', '-', '-C', t.dataDir], {
        signal,
        engine: ENGINE,
        stdin: await this.ctx.artifacts.get(tarKey),
      });
    const walDir = join(t.dataDir, WAL_DIR);
    await mkdir(walDir, { mode: 0o700 });
    for (const ref of this.ctx.record.artifacts.filter((a) => a.key.includes('/wal/'))) {
      signal.throwIfAborted();
      const name = ref.key.slice(ref.key.lastIndexOf('/') + 1);
      const local = this.ctx.artifacts.localPath(ref.key);
      if (local !== undefined) await copyFile(local, join(walDir, name));
      else
        await pipeline(
          await this.ctx.artifacts.get(ref.key),
          createWriteStream(join(walDir, name), { mode: 0o600 }),
        );
    }
    const conf = [
      '',
      "# stillpoint restore: recovery to the backup's restore point, on the target's port, never archiving into the source's archive",
      `port = ${t.port}`,
      `listen_addresses = ${quoteLiteral(t.host)}`,
      `unix_socket_directories = ${quoteLiteral(t.dataDir)}`,
      'archive_mode = off',
      `restore_command = ${quoteLiteral(`cp "${walDir}/%f" "%p"`)}`,
      ...recoveryTarget(this.ctx.record),
      '',
    ];
    await appendFile(join(t.dataDir, 'postgresql.auto.conf'), conf.join('\n'));
    await writeFile(join(t.dataDir, 'recovery.signal'), '', { mode: 0o600 });
    if (this.osUser !== undefined && process.getuid?.() === 0)
      await runTool('chown', ['-R', `${this.osUser}:`, t.dataDir], { engine: ENGINE, signal });
    const log = join(t.dataDir, 'stillpoint-restore.log');
    this.ctx.log.info('starting restored PostgreSQL', { dataDir: t.dataDir, port: t.port });
    this.startedServer = true;
    try {
      await runTool(
        pgTool('pg_ctl', this.options.binDir),
        ['-D', t.dataDir, '-l', log, '-w', '-t', '600', 'start'],
        { user: this.osUser, signal, engine: ENGINE, timeoutMs: 660_000 },
      );
    } catch (error) {
      const tail = (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new EngineError(
        signal.aborted ? 'ABORTED' : 'RESTORE_FAILED',
        `The restored server on ${t.dataDir} did not start: ${tail}`,
        {
          hint: 'A missing WAL segment stops recovery before the target; check the WAL archive of this member.',
          context: { engine: ENGINE, backupId: this.ctx.record.backupId },
          cause: error,
        },
      );
    }
    const conn = targetConnection(connectionOf(this.ctx.record.member), t);
    await pollUntil(
      async () => {
        const client = await connectPostgres(conn, this.options.connectTimeoutMs, conn.database, signal);
        try {
          return (await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r === false;
        } finally {
          await endClient(client);
        }
      },
      {
        timeoutMs: PROMOTE_TIMEOUT_MS,
        signal,
        engine: ENGINE,
        what: `the restored server on ${t.dataDir} to leave recovery (see ${log})`,
      },
    );
    this.startedServer = false;
    return { connection: conn };
  }

  async markFinished(): Promise<void> {
    await this.writeMarker('restored');
  }

  async close(): Promise<void> {
    await this.work.close();
    if (this.startedServer) {
      this.startedServer = false;
      await stopRestoredPostgres(this.target.dataDir, this.options);
    }
  }

  private async writeMarker(state: 'in-progress' | 'restored'): Promise<void> {
    await writeFile(
      join(this.target.dataDir, MARKER_FILE),
      JSON.stringify({ backupId: this.ctx.record.backupId, state }),
      { mode: 0o600 },
    );
  }

  private baseTar(): string {
    const tar = this.ctx.record.artifacts.find((a) => /\/base\/[^/]+\/base\.tar$/.test(a.key));
    if (tar === undefined) {
      throw new EngineError(
        'ARTIFACT_MISSING',
        `Backup ${this.ctx.record.backupId} lists no base backup for member ${this.ctx.record.member.name}.`,
        {
          context: { engine: ENGINE, backupId: this.ctx.record.backupId },
        },
      );
    }
    return tar.key;
  }
}

/** Default PITR target: a new directory in the system temp dir, on 127.0.0.1, the source's port + 1, the member's credentials. */
export function defaultPitrTarget(record: MemberRecord): PitrTarget {
  const source = connectionOf(record.member);
  return {
    dataDir: join(tmpdir(), `stillpoint-restore-${record.member.name}-${backupSuffix(record.backupId)}`),
    port: source.port + 1,
    host: '127.0.0.1',
    ...memberCredentials(source),
  };
}

function osUserOf(options: Pick<PostgresOptions, 'osUser'>): string | undefined {
  return options.osUser ?? (process.getuid?.() === 0 ? 'postgres' : undefined);
}

function recoveryTarget(record: MemberRecord): string[] {
  const h = record.handle;
  if (h.kind !== 'named-point') {
    throw new EngineError('HANDLE_KIND', `PostgreSQL PITR restores a named-point handle, got ${h.kind}.`, {
      context: { engine: ENGINE, backupId: record.backupId },
    });
  }
  return [`recovery_target_name = ${quoteLiteral(h.name)}`, `recovery_target_action = 'promote'`];
}

async function readMarker(dataDir: string): Promise<{ backupId?: string; state?: string } | undefined> {
  return readFile(join(dataDir, MARKER_FILE), 'utf8')
    .then((t) => JSON.parse(t) as { backupId?: string; state?: string })
    .catch(() => undefined);
}

/** True when a TCP connection to host:port is accepted within 1 s (something listens there). */
async function listening(host: string, port: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port, timeout: 1_000, signal });
    const done = (value: boolean): void => {
      socket.destroy();
      resolvePromise(value);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** Stops a server started by a PITR restore (no-op when none runs there). */
export async function stopRestoredPostgres(
  dataDir: string,
  options: Pick<PostgresOptions, 'binDir' | 'osUser'> = {},
): Promise<void> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  await runTool(pgTool('pg_ctl', options.binDir), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], {
    user: osUserOf(options),
    engine: ENGINE,
    timeoutMs: 120_000,
  }).catch(() => {});
}
