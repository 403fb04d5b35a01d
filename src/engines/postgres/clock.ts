/**
 * The database clock minus ours, for either method (clock-based planning and reporting).
 */
import { performance } from 'node:perf_hooks';
import type { ClockSample } from '../contract.ts';
import { connectPostgres, endClient, withAbort } from './connection.ts';
import type { PostgresConnection, PostgresOptions } from './options.ts';

export async function measurePostgresClock(
  conn: PostgresConnection,
  options: PostgresOptions,
  signal: AbortSignal,
): Promise<ClockSample> {
  const client = await connectPostgres(conn, options.connectTimeoutMs, conn.database, signal);
  try {
    return await withAbort(client, signal, async () => {
      const before = performance.timeOrigin + performance.now();
      const r = await client.query<{ ms: string }>(
        'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8::text AS ms',
      );
      const after = performance.timeOrigin + performance.now();
      const rttMs = after - before;
      // clock_timestamp() has microsecond resolution: the uncertainty is the half round trip.
      return {
        offsetMs: Number(r.rows[0]?.ms) - (before + after) / 2,
        uncertaintyMs: rttMs / 2 + 0.001,
        rttMs,
      };
    });
  } finally {
    await endClient(client);
  }
}
