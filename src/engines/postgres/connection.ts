/**
 * Reaching a PostgreSQL member: a `pg` client with a connect deadline, the environment for the libpq tools
 * (the password travels in PGPASSWORD, never in argv) and where the tools live
 * (the `binDir` option, else STILLPOINT_PG_BIN, else the Debian default when present, else PATH).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { resolvePassword } from '../../password.ts';
import { EngineError } from '../../errors.ts';
import type { PreflightCheck } from '../contract.ts';
import { graceful } from '../settle.ts';
import { hasTool } from '../tool-runner.ts';
import type { PostgresConnection, PostgresOptions } from './options.ts';

/**
 * Opens a client to `database` (default the connection's); fails with EngineError `CONNECT_FAILED`, or
 * `ABORTED` when `signal` aborts first (the half-open socket is dropped).
 */
export async function connectPostgres(
  conn: PostgresConnection,
  timeoutMs: number,
  database = conn.database,
  signal?: AbortSignal,
): Promise<pg.Client> {
  signal?.throwIfAborted();
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
  const onAbort = (): void => destroyClient(client);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
  } catch (error) {
    await endClient(client, 0);
    if (signal?.aborted)
      throw new EngineError('ABORTED', `Connecting to ${conn.host}:${conn.port} was aborted.`, {
        context: { engine: 'postgres' },
        cause: error,
      });
    throw new EngineError(
      'CONNECT_FAILED',
      `Could not connect to PostgreSQL at ${conn.host}:${conn.port}/${database} as ${conn.user}: ${(error as Error).message}`,
      {
        hint: 'Check host, port, user and password (passwordEnv / passwordFile), and that pg_hba.conf allows this client.',
        context: { engine: 'postgres' },
        cause: error,
      },
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return client;
}

/** Drops the client's socket: a query pending on it rejects at once (for aborts and dead paths). */
export function destroyClient(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** Runs `work` on `client`; when `signal` aborts meanwhile, the client's socket is dropped so `work` rejects now. */
export async function withAbort<T>(
  client: pg.Client,
  signal: AbortSignal,
  work: () => Promise<T>,
): Promise<T> {
  signal.throwIfAborted();
  const onAbort = (): void => destroyClient(client);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await work();
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
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

/**
 * A PostgreSQL string literal: single quotes doubled, and the `E''` form when a backslash is present (so the
 * text means the same whatever `standard_conforming_strings` is). Safe to print for a user to paste.
 */
export function quoteLiteral(value: string): string {
  const doubled = value.replaceAll("'", "''");
  return value.includes('\\') ? `E'${doubled.replaceAll('\\', '\\\\')}'` : `'${doubled}'`;
}

/** Preflight common to both methods: the tools `method` runs, and a connection (closed again). */
export async function checkToolsAndConnect(
  conn: PostgresConnection,
  options: PostgresOptions,
  tools: readonly string[],
  database: string,
  more: (client: pg.Client) => Promise<readonly PreflightCheck[]> = () => Promise.resolve([]),
): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = tools.map((tool) => {
    const path = pgTool(tool, options.binDir);
    return hasTool(path)
      ? { name: `tool ${tool}`, ok: true, detail: path }
      : {
          name: `tool ${tool}`,
          ok: false,
          detail: `TOOL_MISSING: ${path}`,
          hint: 'Install the PostgreSQL client tools (postgresql-client) or set options.binDir.',
        };
  });
  let client: pg.Client;
  try {
    client = await connectPostgres(conn, options.connectTimeoutMs, database);
  } catch (error) {
    return [
      ...checks,
      {
        name: 'connect',
        ok: false,
        detail: (error as Error).message,
        hint: 'Check host, port, user and password of the member.',
      },
    ];
  }
  try {
    const version = (await client.query<{ v: string }>('SHOW server_version')).rows[0]?.v ?? '?';
    checks.push({ name: 'connect', ok: true, detail: `PostgreSQL ${version} at ${conn.host}:${conn.port}` });
    checks.push(...(await more(client)));
  } finally {
    await client.end().catch(() => {});
  }
  return checks;
}

/** Same server: hosts compared after mapping the loopback names to one. */
export function sameServer(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  const norm = (h: string): string =>
    ['localhost', '127.0.0.1', '::1', '[::1]'].includes(h.toLowerCase()) ? 'loopback' : h.toLowerCase();
  return a.port === b.port && norm(a.host) === norm(b.host);
}

/**
 * Ends a client politely (a pending query gets `graceMs` to answer), then drops the socket. Never throws.
 * `end()` on a client whose query is stuck on a dead path would wait for it; destroying the stream does not.
 */
export async function endClient(client: pg.Client, graceMs = 2_000): Promise<void> {
  let ended = false;
  const ending = client.end().then(
    () => void (ended = true),
    () => void (ended = true),
  );
  await graceful(ending, graceMs);
  if (ended) return;
  destroyClient(client);
  await graceful(ending, 500);
}
