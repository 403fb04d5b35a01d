/**
 * Reaching a PostgreSQL member: a `pg` client with a connect deadline, the environment for the libpq tools
 * (the password travels in PGPASSWORD, never in argv) and where the tools live
 * (the `binDir` option, else STILLPOINT_PG_BIN, else the Debian default when present, else PATH).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { resolvePassword } from '../../config/password.ts';
import { EngineError } from '../../errors.ts';
import type { PostgresConnection } from './postgres-options.ts';

/** Opens a client to `database` (default the connection's); fails with EngineError `CONNECT_FAILED`. */
export async function connectPostgres(conn: PostgresConnection, timeoutMs: number, database = conn.database): Promise<pg.Client> {
  const client = new pg.Client({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    database,
    password: resolvePassword(conn, `${conn.host}:${conn.port}`),
    connectionTimeoutMillis: timeoutMs,
    // A dead server must not hang a backup step forever; dumps run in pg_dump, not through this client.
    query_timeout: 10 * 60_000,
  });
  // An idle exporting transaction can lose its server; the error surfaces on the next query instead.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new EngineError('CONNECT_FAILED', `Could not connect to PostgreSQL at ${conn.host}:${conn.port}/${database} as ${conn.user}: ${(error as Error).message}`, {
      hint: 'Check host, port, user and password (passwordEnv / passwordFile), and that pg_hba.conf allows this client.',
      context: { engine: 'postgres' },
      cause: error,
    });
  }
  return client;
}

/** libpq environment for pg_dump / pg_restore / pg_basebackup. */
export function toolEnv(conn: PostgresConnection, database = conn.database): NodeJS.ProcessEnv {
  const password = resolvePassword(conn, `${conn.host}:${conn.port}`);
  return {
    ...process.env,
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGDATABASE: database,
    PGCONNECT_TIMEOUT: '10',
    ...(password === undefined ? {} : { PGPASSWORD: password }),
  };
}

/** Full path of a PostgreSQL tool: `binDir` option, else STILLPOINT_PG_BIN, else the Debian default, else PATH. */
export function pgTool(tool: string, binDir: string | undefined): string {
  const dir = binDir ?? process.env.STILLPOINT_PG_BIN ?? '/usr/lib/postgresql/15/bin';
  return binDir !== undefined || existsSync(join(dir, tool)) ? join(dir, tool) : tool;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `pre` when it still answers (a connection opened before the pause), else a fresh connection. */
export async function reuseOrConnect(pre: pg.Client | undefined, connect: () => Promise<pg.Client>): Promise<pg.Client> {
  if (pre !== undefined) {
    try {
      await pre.query('SELECT 1');
      return pre;
    } catch {
      await pre.end().catch(() => {});
    }
  }
  return connect();
}
