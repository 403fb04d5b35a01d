/**
 * The demo's PostgreSQL + MariaDB group (`stillpoint demo --group postgres+mariadb`): a throwaway PostgreSQL
 * (bank_a and the Coordinator as schemas of the database `bank`, WAL archived into the artifact store for
 * PITR) and a throwaway MariaDB (bank_b as a database, binary log on), both from the lab's local servers.
 * Backups alternate PITR and logical (the first is PITR, so even one backup shows a point-in-time restore);
 * logical restores go next to their source under new names, PITR restores into new servers on free ports.
 * `close()` stops every server it started (restored ones included); their temp dirs go with them.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RestoreTarget } from '../../engines/contract.ts';
import { stopRestoredMariaDb } from '../../engines/mariadb/pitr/restore.ts';
import { suggestedArchiveCommand } from '../../engines/postgres/pitr/archive.ts';
import { stopRestoredPostgres } from '../../engines/postgres/pitr/restore.ts';
import type { GroupConfig } from '../../txn/contract.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../local-servers/mariadb-server.ts';
import { startLocalPostgres, type LocalPostgres } from '../local-servers/postgres-server.ts';
import { freePort, handOver } from '../local-servers/process.ts';

export type BackupMethod = 'logical' | 'pitr';

/** What the demo needs from a group of databases: the group, a plan per backup, a restore target per backup. */
export interface DemoBackend {
  readonly description: string;
  readonly group: GroupConfig;
  /** The plan file of backup `index` (0-based) over the node `addresses`. */
  planFor(index: number, addresses: readonly string[]): string;
  /** The method of backup `index` (shown in the progress). */
  methodOf(index: number): BackupMethod | 'snapshot';
  /** Where backup `index` is restored. */
  restoreInto(
    index: number,
    into: string,
  ): Promise<{ intoDir?: string; targets?: Record<string, RestoreTarget> }>;
  close(): Promise<void>;
}

/** Starts both servers (in parallel) under `dir`, which is opened to the servers' OS users. */
export async function startServerBackend(
  dir: string,
  options: { leaseMs: number; minWindowMs: number },
): Promise<DemoBackend> {
  await chmod(dir, 0o755); // the servers run as their own OS users (postgres, mysql) and must get through
  const artifactsDir = join(dir, 'artifacts');
  const walDir = join(artifactsDir, 'shared', 'pg', 'wal');
  await mkdir(walDir, { recursive: true });
  await chmod(artifactsDir, 0o755);
  await handOver('postgres', join(artifactsDir, 'shared'), join(artifactsDir, 'shared', 'pg'), walDir);
  const archive = suggestedArchiveCommand(walDir).replaceAll("'", "''");
  const started = await Promise.allSettled([
    startLocalPostgres({
      baseDir: dir,
      conf: ['wal_level = replica', 'archive_mode = on', `archive_command = '${archive}'`],
    }),
    startLocalMariaDb({ baseDir: dir }),
  ]);
  const [pgResult, mariaResult] = started;
  if (pgResult.status === 'rejected' || mariaResult.status === 'rejected') {
    await Promise.all(started.flatMap((r) => (r.status === 'fulfilled' ? [r.value.destroy()] : [])));
    throw pgResult.status === 'rejected' ? pgResult.reason : (mariaResult as PromiseRejectedResult).reason;
  }
  const pg: LocalPostgres = pgResult.value;
  const maria: LocalMariaDb = mariaResult.value;
  const restored: { pg: string[]; maria: string[] } = { pg: [], maria: [] };
  try {
    await pg.createDatabase('bank');
  } catch (error) {
    await Promise.all([pg.destroy(), maria.destroy()]);
    throw error;
  }
  const group: GroupConfig = {
    storages: { pg: pg.connection('bank'), maria: maria.connection() },
    namespaces: { bank_a: 'pg', coordinator: 'pg', bank_b: 'maria' },
  };
  const methodOf = (index: number): BackupMethod => (index % 2 === 0 ? 'pitr' : 'logical');
  return {
    description: `PostgreSQL on 127.0.0.1:${pg.port} (bank_a, coordinator) + MariaDB on 127.0.0.1:${maria.port} (bank_b)`,
    group,
    methodOf,
    planFor(index, addresses) {
      const method = methodOf(index);
      const plan = {
        version: 1,
        group: 'demo-bank',
        clusters: [
          {
            name: 'bank-nodes',
            targets: { addresses: [...addresses] },
            leaseMs: options.leaseMs,
            drainTimeoutMs: 10_000,
          },
        ],
        members: [
          {
            name: 'pg',
            engine: 'postgres',
            connection: pg.connection('bank'),
            namespaces: ['bank_a', 'coordinator'],
            options: { method },
          },
          {
            name: 'maria',
            engine: 'mariadb',
            connection: maria.connection(),
            namespaces: ['bank_b'],
            options: { method },
          },
        ],
        artifacts: { dir: artifactsDir },
        catalog: { path: join(dir, 'catalog.db') },
        window: { minMs: options.minWindowMs, maxAttempts: 3 },
      };
      const file = join(dir, `plan-${method}.yaml`);
      writeFileSync(file, stringify(plan));
      return file;
    },
    async restoreInto(index, into) {
      // Logical: no target, so each member goes next to its source under a new name (never over live data).
      if (methodOf(index) === 'logical') return {};
      await mkdir(into, { recursive: true });
      await chmod(into, 0o755);
      const pgDir = join(into, 'pg');
      const mariaDir = join(into, 'maria');
      restored.pg.push(pgDir);
      restored.maria.push(mariaDir);
      return {
        targets: {
          pg: { dataDir: pgDir, port: await freePort() },
          maria: { dir: mariaDir, port: await freePort() },
        },
      };
    },
    async close() {
      await Promise.all([
        ...restored.pg.map((d) => stopRestoredPostgres(d)),
        ...restored.maria.map((d) => stopRestoredMariaDb(d)),
      ]);
      await Promise.all([pg.destroy(), maria.destroy()]);
    },
  };
}
