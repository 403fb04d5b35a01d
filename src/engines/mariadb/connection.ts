/**
 * Reaching a MariaDB/MySQL member: a mysql2 connection with a connect deadline and the settings a dump needs
 * (dates and big numbers as strings, so values round-trip exactly), and the client tools' arguments (the
 * password travels in MYSQL_PWD, never in argv).
 */
import mysql from 'mysql2/promise';
import { resolvePassword } from '../../password.ts';
import { EngineError } from '../../errors.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { ClockSample } from '../contract.ts';
import type { MariaDbConnection } from './options.ts';

/** Opens a connection; EngineError `CONNECT_FAILED` with a hint (its cause carries the driver's code). */
export async function connectMariaDb(
  conn: MariaDbConnection,
  timeoutMs: number,
  database?: string,
): Promise<mysql.Connection> {
  try {
    const c = await mysql.createConnection({
      host: conn.host,
      port: conn.port,
      user: conn.user,
      password: resolvePassword(conn, `${conn.host}:${conn.port}`),
      ...(database === undefined ? {} : { database }),
      connectTimeout: timeoutMs,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      decimalNumbers: false,
      multipleStatements: false,
      charset: 'utf8mb4',
    });
    // An idle snapshot holder can lose its server; the error surfaces on the next query instead.
    c.on('error', () => {});
    return c;
  } catch (error) {
    throw new EngineError(
      'CONNECT_FAILED',
      `Could not connect to MariaDB at ${conn.host}:${conn.port} as ${conn.user}: ${(error as Error).message}`,
      {
        hint: 'Check host, port, user and password (passwordEnv / passwordFile), and that the user may connect from this host.',
        context: { engine: 'mariadb' },
        cause: error,
      },
    );
  }
}

/** Connection arguments for mariadb, mariabackup, mariadb-binlog. */
export function toolArgs(conn: MariaDbConnection): string[] {
  return [`--host=${conn.host}`, `--port=${conn.port}`, `--user=${conn.user}`];
}

/** Environment carrying the password for the client tools. */
export function toolEnv(conn: MariaDbConnection): NodeJS.ProcessEnv {
  const password = resolvePassword(conn, `${conn.host}:${conn.port}`);
  return { ...process.env, ...(password === undefined ? {} : { MYSQL_PWD: password }) };
}

export function quoteIdent(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** `pre` when it still answers (a connection opened before the pause), else a fresh connection. */
export async function reuseOrConnect(
  pre: mysql.Connection | undefined,
  connect: () => Promise<mysql.Connection>,
): Promise<mysql.Connection> {
  if (pre !== undefined) {
    try {
      await pre.query('SELECT 1');
      return pre;
    } catch {
      pre.destroy();
    }
  }
  return connect();
}

/** How long closing a connection waits for the server's answer before dropping the socket. */
export const CLOSE_GRACE_MS = 5_000;

/** Closes politely (QUIT), then drops the socket past `graceMs` (a dead path never answers). Never throws. */
export async function closeQuietly(conn: mysql.Connection, graceMs = CLOSE_GRACE_MS): Promise<void> {
  const timer = new AbortController();
  await Promise.race([
    conn.end().catch(() => undefined),
    sleep(graceMs, undefined, { signal: timer.signal }).catch(() => undefined),
  ]);
  timer.abort();
  conn.destroy();
}

/** Database clock minus ours: NOW(6) has microsecond resolution, so the uncertainty is the half round trip. */
export async function measureClockOn(c: mysql.Connection): Promise<ClockSample> {
  const before = performance.timeOrigin + performance.now();
  const [r] = await c.query<mysql.RowDataPacket[]>(
    'SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000 AS DOUBLE) AS ms',
  );
  const after = performance.timeOrigin + performance.now();
  const rttMs = after - before;
  return { offsetMs: Number(r[0]?.ms) - (before + after) / 2, uncertaintyMs: rttMs / 2 + 0.001, rttMs };
}

/** True when a connect failure was the server refusing the credentials (not an unreachable server). */
export function credentialsRejected(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code === 'ER_ACCESS_DENIED_ERROR' || cause?.code === 'ER_DBACCESS_DENIED_ERROR';
}

/**
 * `work`, or EngineError `ABORTED` as soon as `signal` aborts (then `onAbort` drops whatever `work` waits
 * on). mysql2 leaves a query pending forever when its socket goes silent, so waiting for `work` to notice
 * is not enough.
 */
export function abortable<T>(
  signal: AbortSignal,
  work: () => Promise<T>,
  onAbort: () => void,
  what: string,
): Promise<T> {
  const aborted = (): EngineError =>
    new EngineError('ABORTED', `${what} was aborted.`, {
      context: { engine: 'mariadb' },
      cause: signal.reason,
    });
  if (signal.aborted) {
    onAbort();
    return Promise.reject(aborted());
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      onAbort();
      reject(aborted());
    };
    signal.addEventListener('abort', abort, { once: true });
    work().then(
      (value) => (signal.removeEventListener('abort', abort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', abort), reject(error as Error)),
    );
  });
}
