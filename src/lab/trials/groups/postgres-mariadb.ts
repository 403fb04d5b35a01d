/**
 * The `postgres+mariadb` trial group: PostgreSQL (bank_a and the Coordinator) + MariaDB (bank_b) on servers
 * shared by the campaign (initdb is slow), each trial in fresh databases; a second MariaDB server takes the
 * restores (a MySQL namespace is a database with a fixed name, still held by the live server).
 */
import type { MemberSpec } from '../../../engines/contract.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../../local-servers/mariadb-server.ts';
import { startLocalPostgres, type LocalPostgres } from '../../local-servers/postgres-server.ts';
import type { TrialDatabases, TrialGroupKind, TrialGroupServers } from '../group.ts';
import { startTcpProxy } from '../tcp-proxy.ts';
import { restoreTarget } from './targets.ts';

export const postgresMariadbGroup: TrialGroupKind = {
  name: 'postgres+mariadb',
  modes: ['snapshot', 'pause-window'],
  async start(): Promise<TrialGroupServers> {
    const started: Array<{ destroy(): Promise<void> }> = [];
    try {
      const postgres = await startLocalPostgres();
      started.push(postgres);
      const mariadb = await startLocalMariaDb();
      started.push(mariadb);
      const mariadbRestore = await startLocalMariaDb();
      started.push(mariadbRestore);
      return {
        create: (dir, index) => serverDatabases(dir, index, postgres, mariadb),
        restoreTarget: (member, into, random) => restoreTarget(member, into, random, mariadbRestore),
        async stop() {
          for (const server of started) await server.destroy().catch(() => undefined);
        },
      };
    } catch (error) {
      for (const server of started) await server.destroy().catch(() => undefined);
      throw error;
    }
  },
};

async function serverDatabases(
  dir: string,
  index: number,
  postgres: LocalPostgres,
  mariadb: LocalMariaDb,
): Promise<TrialDatabases> {
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
      options: { method: 'logical' },
    },
    {
      name: 'maria',
      engine: 'mariadb',
      connection: { ...mariaDirect, port: mariaProxy.port },
      namespaces: ['bank_b'],
      options: {},
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
