/**
 * A throwaway PostgreSQL server: initdb into a temp dir, started with pg_ctl on a free loopback port,
 * trust authentication for the `postgres` superuser plus a password user. Runs as the `postgres` system
 * user when we are root. Used by tests, trials, benchmarks; the caller must `stop()` it.
 */
import { mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, handOver, isRoot, run, waitFor } from './process.ts';

export const PG_BIN = process.env.STILLPOINT_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface LocalPostgresOptions {
  /** Extra postgresql.conf lines (e.g. `wal_level = replica`, `archive_mode = on`). */
  readonly conf?: readonly string[];
  /** Base directory for the temp dir (default os.tmpdir()). */
  readonly baseDir?: string;
}

export interface LocalPostgres {
  readonly host: string;
  readonly port: number;
  /** Superuser, trust auth on loopback. */
  readonly user: string;
  /** A password user with superuser rights, for testing credentials. */
  readonly passwordUser: { readonly user: string; readonly password: string };
  readonly dataDir: string;
  readonly dir: string;
  /** OS user the server runs as (undefined when not root). */
  readonly osUser: string | undefined;
  readonly bin: string;
  query(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult>;
  createDatabase(name: string): Promise<void>;
  /** Connection parameters for a `postgres` StorageConfig. */
  connection(database?: string): {
    kind: 'postgres';
    host: string;
    port: number;
    user: string;
    database: string;
  };
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes the temp dir. Idempotent. */
  destroy(): Promise<void>;
}

export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<LocalPostgres> {
  const dir = await mkdtemp(join(options.baseDir ?? tmpdir(), 'stillpoint-pg-'));
  const osUser = isRoot() ? 'postgres' : undefined;
  await handOver(osUser, dir);
  const dataDir = join(dir, 'data');
  const port = await freePort();
  await run(
    join(PG_BIN, 'initdb'),
    ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'],
    {
      user: osUser,
    },
  );
  const conf = [
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${dir}'`,
    'fsync = off',
    'max_connections = 200',
    ...(options.conf ?? []),
  ];
  await appendFile(join(dataDir, 'postgresql.conf'), `\n${conf.join('\n')}\n`);
  await writeFile(
    join(dataDir, 'pg_hba.conf'),
    'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost replication all 127.0.0.1/32 trust\n',
  );
  await handOver(osUser, join(dataDir, 'postgresql.conf'), join(dataDir, 'pg_hba.conf'));

  const server: LocalPostgres = {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    passwordUser: { user: 'stillpoint', password: 'stillpoint-test-pw' },
    dataDir,
    dir,
    osUser,
    bin: PG_BIN,
    async query(sql, params, database = 'postgres') {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database });
      await client.connect();
      try {
        return await client.query(sql, params);
      } finally {
        await client.end();
      }
    },
    async createDatabase(name) {
      await server.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    },
    connection(database = 'postgres') {
      return { kind: 'postgres', host: '127.0.0.1', port, user: 'postgres', database };
    },
    async stop(mode = 'fast') {
      await run(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, '-m', mode, '-w', 'stop'], { user: osUser }).catch(
        () => {},
      );
    },
    async start() {
      await run(
        join(PG_BIN, 'pg_ctl'),
        ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start'],
        {
          user: osUser,
        },
      );
      await waitFor(
        async () => (await server.query('SELECT 1')).rowCount === 1,
        30_000,
        'PostgreSQL to accept connections',
      );
    },
    async destroy() {
      await server.stop('immediate');
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
    await server.query(`CREATE ROLE stillpoint LOGIN SUPERUSER PASSWORD 'stillpoint-test-pw'`);
  } catch (error) {
    await server.destroy();
    throw error;
  }
  return server;
}
