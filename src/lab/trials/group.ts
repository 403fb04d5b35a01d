/**
 * The databases of one trial: a fresh consistency group, either three SQLite files in a temp dir, or
 * PostgreSQL (bank_a and the Coordinator) + MariaDB (bank_b) on servers shared by the run, each trial in
 * fresh databases. The backup reaches server members through TCP proxies (so a fault can slow or drop that
 * path); the nodes, the workload and the runner's checks connect directly.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { MemberSpec } from '../../engines/contract.ts';
import { InternalError } from '../../errors.ts';
import type { LocalMariaDb } from '../local-servers/mariadb-server.ts';
import type { LocalPostgres } from '../local-servers/postgres-server.ts';
import type { GroupConfig, StorageConfig } from '../../txn/contract.ts';
import type { GroupKind } from './faults.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

/** Servers shared by every postgres+mariadb trial of a run (started once: initdb is slow). */
export interface SharedServers {
  readonly postgres: LocalPostgres;
  readonly mariadb: LocalMariaDb;
}

export interface TrialDatabases {
  readonly kind: GroupKind;
  readonly dir: string;
  /** Direct connections: nodes, workload, live checks. */
  readonly group: GroupConfig;
  /** Plan members (server members through their proxy). */
  readonly members: readonly MemberSpec[];
  /** Proxies on the backup's path to each server member, by member name (empty for SQLite). */
  readonly proxies: ReadonlyMap<string, TcpProxy>;
  /** Stops the server behind `member` (immediate); returns a function that starts it again. */
  stopServer(member: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Builds a fresh group for trial `index` under `dir`. */
export async function createTrialDatabases(
  kind: GroupKind,
  dir: string,
  index: number,
  servers: SharedServers | undefined,
  memberOptions: (engine: string) => Record<string, unknown>,
): Promise<TrialDatabases> {
  await mkdir(dir, { recursive: true });
  if (kind === 'sqlite') return sqliteDatabases(dir, memberOptions);
  if (servers === undefined)
    throw new InternalError('TRIAL_NO_SERVERS', 'postgres+mariadb trials need the shared servers.');
  return serverDatabases(dir, index, servers, memberOptions);
}

function sqliteDatabases(
  dir: string,
  memberOptions: (engine: string) => Record<string, unknown>,
): TrialDatabases {
  const file = (name: string): StorageConfig => ({ kind: 'sqlite', path: join(dir, `${name}.db`) });
  const storages = { a: file('bank_a'), b: file('bank_b'), c: file('coordinator') };
  const members: MemberSpec[] = [
    {
      name: 'a',
      engine: 'sqlite',
      connection: storages.a,
      namespaces: ['bank_a'],
      options: memberOptions('sqlite'),
    },
    {
      name: 'b',
      engine: 'sqlite',
      connection: storages.b,
      namespaces: ['bank_b'],
      options: memberOptions('sqlite'),
    },
    {
      name: 'c',
      engine: 'sqlite',
      connection: storages.c,
      namespaces: ['coordinator'],
      options: memberOptions('sqlite'),
    },
  ];
  return {
    kind: 'sqlite',
    dir,
    group: { storages, namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'c' } },
    members,
    proxies: new Map(),
    stopServer: () =>
      Promise.reject(new InternalError('TRIAL_NO_SERVER', 'an SQLite group has no database server to stop.')),
    close: () => Promise.resolve(),
  };
}

async function serverDatabases(
  dir: string,
  index: number,
  servers: SharedServers,
  memberOptions: (engine: string) => Record<string, unknown>,
): Promise<TrialDatabases> {
  const { postgres, mariadb } = servers;
  const database = `trial_${index}_${Date.now().toString(36)}`;
  await postgres.createDatabase(database);
  // MySQL namespaces are databases with fixed names: drop what an earlier trial left.
  for (const ns of ['bank_b', 'coordinator', 'bank_a'])
    await mariadb.query(`DROP DATABASE IF EXISTS \`${ns}\``);
  const pgProxy = await startTcpProxy({ upstreamHost: postgres.host, upstreamPort: postgres.port });
  const mariaProxy = await startTcpProxy({ upstreamHost: mariadb.host, upstreamPort: mariadb.port });
  const pgDirect = postgres.connection(database);
  const mariaDirect = mariadb.connection();
  const members: MemberSpec[] = [
    {
      name: 'pg',
      engine: 'postgres',
      connection: { ...pgDirect, port: pgProxy.port },
      namespaces: ['bank_a', 'coordinator'],
      options: memberOptions('postgres'),
    },
    {
      name: 'maria',
      engine: 'mariadb',
      connection: { ...mariaDirect, port: mariaProxy.port },
      namespaces: ['bank_b'],
      options: memberOptions('mariadb'),
    },
  ];
  return {
    kind: 'postgres+mariadb',
    dir,
    group: {
      storages: { pg: pgDirect, maria: mariaDirect },
      namespaces: { bank_a: 'pg', bank_b: 'maria', coordinator: 'pg' },
    },
    members,
    proxies: new Map([
      ['pg', pgProxy],
      ['maria', mariaProxy],
    ]),
    async stopServer(member) {
      if (member === 'pg') {
        await postgres.stop('immediate');
        return () => postgres.start();
      }
      await mariadb.stop();
      return () => mariadb.start();
    },
    async close() {
      await pgProxy.close();
      await mariaProxy.close();
    },
  };
}
