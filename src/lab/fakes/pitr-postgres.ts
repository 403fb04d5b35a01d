/**
 * Real PostgreSQL point-in-time recovery for the managed-database FAKES (rds-control-plane-fake.ts,
 * azure-flexible-fake.ts): a local server with WAL archiving and a base backup taken at start (the
 * "automated backups"), and a restore to a TIME = a new server from that base backup replaying the archived
 * WAL up to `recovery_target_time`. The restored database really is the source as of that time.
 *
 * The product's own PostgreSQL PITR (src/engines/postgres/pitr/) restores to a named restore point; a
 * managed service restores to a time, so this does `recovery_target_time`, with the same tools.
 */
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startLocalPostgres, PG_BIN, type LocalPostgres } from '../local-servers/postgres-server.ts';
import { freePort, handOver, isRoot, run, waitFor } from '../local-servers/process.ts';

export interface PitrPostgresServer {
  readonly host: string;
  readonly port: number;
  query(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult>;
  destroy(): Promise<void>;
}

/** A source server with archiving on and a base backup: restorable from `baseBackupEndMs` (our clock). */
export interface ArchivedPostgres extends PitrPostgresServer {
  readonly server: LocalPostgres;
  readonly baseBackupEndMs: number;
  /** Real PITR to `atMs` (our clock): a new server on a free port. */
  restoreToTime(atMs: number): Promise<PitrPostgresServer>;
}

/** The first row's one column, as text or null. */
async function scalar(port: number, sql: string, database = 'postgres'): Promise<string | boolean | null> {
  const rows = (await query(port, sql, [], database)).rows as Record<string, unknown>[];
  return (Object.values(rows[0] ?? {})[0] ?? null) as string | boolean | null;
}

async function query(
  port: number,
  sql: string,
  params: unknown[] = [],
  database = 'postgres',
): Promise<pg.QueryResult> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

export async function startArchivedPostgres(): Promise<ArchivedPostgres> {
  const osUser = isRoot() ? 'postgres' : undefined;
  const root = await mkdtemp(join(tmpdir(), 'stillpoint-fake-pitr-pg-'));
  const archive = join(root, 'wal');
  await mkdir(archive);
  await handOver(osUser, root, archive);
  const server = await startLocalPostgres({
    conf: [
      'wal_level = replica',
      'archive_mode = on',
      `archive_command = 'test ! -f ${archive}/%f && cp %p ${archive}/%f'`,
      'max_wal_senders = 5',
    ],
  });
  const restored: PitrPostgresServer[] = [];
  const base = join(root, 'base');
  await run(
    join(PG_BIN, 'pg_basebackup'),
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(server.port),
      '-U',
      'postgres',
      '-D',
      base,
      '-X',
      'fetch',
      '-c',
      'fast',
      '--no-sync',
    ],
    { user: osUser },
  );
  const baseBackupEndMs = Date.now();
  await query(server.port, 'CREATE DATABASE rdsadmin');
  await query(server.port, 'CREATE TABLE heartbeat (at timestamptz NOT NULL)', [], 'rdsadmin');

  /** A commit after every restore time, then the segment holding it archived: WAL covers "now". */
  async function flushArchive(): Promise<void> {
    await query(server.port, 'INSERT INTO heartbeat VALUES (now())', [], 'rdsadmin');
    const wal = String(await scalar(server.port, 'SELECT pg_walfile_name(pg_switch_wal())'));
    await waitFor(
      async () =>
        String((await scalar(server.port, 'SELECT last_archived_wal FROM pg_stat_archiver')) ?? '') >= wal,
      60_000,
      `WAL ${wal} to be archived`,
    );
  }

  async function restoreToTime(atMs: number): Promise<PitrPostgresServer> {
    await flushArchive();
    const dir = await mkdtemp(join(tmpdir(), 'stillpoint-fake-pitr-restored-'));
    await handOver(osUser, dir);
    const data = join(dir, 'data');
    await run('cp', ['-a', base, data], { user: osUser });
    const port = await freePort();
    await appendFile(
      join(data, 'postgresql.conf'),
      [
        '',
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        'archive_mode = off',
        `restore_command = 'cp ${archive}/%f "%p"'`,
        `recovery_target_time = '${new Date(atMs).toISOString().replace('T', ' ').replace('Z', '+00')}'`,
        `recovery_target_action = 'promote'`,
        '',
      ].join('\n'),
    );
    await writeFile(join(data, 'recovery.signal'), '');
    await handOver(osUser, join(data, 'recovery.signal'));
    const stop = async () => {
      await run(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], {
        user: osUser,
      }).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    };
    try {
      await run(
        join(PG_BIN, 'pg_ctl'),
        ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '300', 'start'],
        {
          user: osUser,
          timeoutMs: 320_000,
        },
      );
      await waitFor(
        async () => (await scalar(port, 'SELECT pg_is_in_recovery()')) === false,
        300_000,
        'the restored PostgreSQL to leave recovery',
      );
    } catch (error) {
      const log = await readFile(join(dir, 'server.log'), 'utf8').catch(() => '');
      await stop();
      throw new Error(
        `PITR to ${new Date(atMs).toISOString()} failed: ${String(error)}\n${log.split('\n').slice(-8).join('\n')}`,
        { cause: error },
      );
    }
    const copy: PitrPostgresServer = {
      host: '127.0.0.1',
      port,
      query: (sql, params, database) => query(port, sql, params, database),
      destroy: stop,
    };
    restored.push(copy);
    return copy;
  }

  return {
    host: server.host,
    port: server.port,
    server,
    baseBackupEndMs,
    query: (sql, params, database) => server.query(sql, params, database),
    restoreToTime,
    async destroy() {
      for (const r of restored.splice(0)) await r.destroy();
      await server.destroy();
      await rm(root, { recursive: true, force: true });
    },
  };
}
