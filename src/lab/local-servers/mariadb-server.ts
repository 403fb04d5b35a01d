/**
 * A throwaway MariaDB server: mariadb-install-db into a temp dir, mariadbd on a free loopback port with
 * the binary log on (row format, so binlog positions are restore points). Root has no password on loopback;
 * a password user exists for credential tests. The caller must `destroy()` it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort, handOver, isRoot, run, waitFor } from './process.ts';

export interface LocalMariaDbOptions {
  /** Extra mariadbd command-line options (`--foo=bar`). */
  readonly args?: readonly string[];
  readonly baseDir?: string;
}

export interface LocalMariaDb {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly passwordUser: { readonly user: string; readonly password: string };
  readonly dataDir: string;
  readonly dir: string;
  readonly socket: string;
  /** Directory holding the binary logs (`binlog.000001`, …). */
  readonly binlogDir: string;
  readonly osUser: string | undefined;
  query(sql: string, params?: unknown[]): Promise<unknown>;
  connection(database?: string): {
    kind: 'mysql';
    host: string;
    port: number;
    user: string;
    database?: string;
  };
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * Starts a server, retrying once from scratch: on a busy shared machine mariadb-install-db occasionally fails
 * when several bootstraps run at once, or the free port is taken before mariadbd binds it.
 */
export async function startLocalMariaDb(options: LocalMariaDbOptions = {}): Promise<LocalMariaDb> {
  try {
    return await startOnce(options);
  } catch (first) {
    await sleep(1_000);
    return startOnce(options).catch(() => Promise.reject(first as Error));
  }
}

async function startOnce(options: LocalMariaDbOptions): Promise<LocalMariaDb> {
  const dir = await mkdtemp(join(options.baseDir ?? tmpdir(), 'stillpoint-mariadb-'));
  const osUser = isRoot() ? 'mysql' : undefined;
  await handOver(osUser, dir);
  const dataDir = join(dir, 'data');
  const binlogDir = dataDir;
  const socket = join(dir, 'mysqld.sock');
  const port = await freePort();
  await run(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...(osUser ? [`--user=${osUser}`] : []),
    ],
    { timeoutMs: 120_000 },
  ).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  await handOver(osUser, dataDir);
  let child: ChildProcess | undefined;
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${socket}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    '--log-bin=binlog',
    '--binlog-format=ROW',
    '--server-id=1',
    '--innodb-flush-log-at-trx-commit=2',
    '--sync-binlog=0',
    '--innodb-buffer-pool-size=64M',
    '--max-connections=300',
    '--skip-name-resolve',
    `--log-error=${join(dir, 'error.log')}`,
    ...(osUser ? [`--user=${osUser}`] : []),
    ...(options.args ?? []),
  ];
  const connect = () =>
    mysql.createConnection({ host: '127.0.0.1', port, user: 'root', multipleStatements: true });

  const server: LocalMariaDb = {
    host: '127.0.0.1',
    port,
    user: 'root',
    passwordUser: { user: 'stillpoint', password: 'stillpoint-test-pw' },
    dataDir,
    dir,
    socket,
    binlogDir,
    osUser,
    async query(sql, params) {
      const conn = await connect();
      try {
        const [rows] = await conn.query(sql, params);
        return rows;
      } finally {
        await conn.end();
      }
    },
    connection(database) {
      return { kind: 'mysql', host: '127.0.0.1', port, user: 'root', ...(database ? { database } : {}) };
    },
    async start() {
      const proc = spawn('mariadbd', args, { stdio: 'ignore' });
      child = proc;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.once('exit', () => {
        if (child === proc) child = undefined;
      });
      await waitFor(
        async () => {
          if (child !== proc) throw new Error('mariadbd exited');
          const conn = await connect();
          await conn.end();
          return true;
        },
        60_000,
        `MariaDB on port ${port} (log: ${join(dir, 'error.log')})`,
      ).catch(async (error: unknown) => {
        proc.kill('SIGKILL');
        await exited;
        throw error;
      });
    },
    async stop() {
      const proc = child;
      if (proc === undefined) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
    async destroy() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
    await server.query(
      `CREATE USER 'stillpoint'@'%' IDENTIFIED BY 'stillpoint-test-pw'; GRANT ALL PRIVILEGES ON *.* TO 'stillpoint'@'%' WITH GRANT OPTION;`,
    );
  } catch (error) {
    await server.destroy();
    throw error;
  }
  return server;
}
