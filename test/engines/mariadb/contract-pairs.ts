/**
 * The MariaDB (logical, pitr) pairs of the engine contract suite (../engine-contract.ts): one server shared by
 * both pairs, a database per case; PITR restores go to directories in the store (traversable by the server's
 * OS user).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { MemberSpec } from '../../../src/engines/contract.ts';
import { stopRestoredMariaDb } from '../../../src/engines/mariadb/pitr/restore.ts';
import { startLocalMariaDb, type LocalMariaDb } from '../../../src/lab/local-servers/mariadb-server.ts';
import { startTcpProxy } from '../../../src/lab/trials/tcp-proxy.ts';
import type { StorageConfig } from '../../../src/txn/contract.ts';
import type { EnginePair, PairFixture } from '../engine-contract.ts';
import { tempDirStore } from '../support.ts';

const SEED_ROWS = 50;

let shared: { server: LocalMariaDb; users: number } | undefined;

async function sharedServer(): Promise<LocalMariaDb> {
  shared ??= { server: await startLocalMariaDb(), users: 0 };
  shared.users++;
  return shared.server;
}

async function releaseServer(): Promise<void> {
  if (shared === undefined || --shared.users > 0) return;
  const { server } = shared;
  shared = undefined;
  await server.destroy();
}

export function mariadbPair(method: 'logical' | 'pitr'): EnginePair {
  const name = method === 'pitr' ? 'mpitr' : 'mlogical';
  return {
    label: `mariadb ${method}`,
    async setup(): Promise<PairFixture> {
      const server = await sharedServer();
      const store = await tempDirStore();
      const restoredDirs: string[] = [];
      /** The database of the current case: a PITR restore keeps the name on its new server. */
      let current = '';
      const memberOf = (database: string, port = server.port): MemberSpec => ({
        name,
        engine: 'mariadb',
        connection: { ...server.connection(), port },
        namespaces: [database],
        options: { method, jobs: 1, connectTimeoutMs: 1_000, dumpStallMs: 1_000, archiveTimeoutMs: 30_000 },
      });
      const seed = async (caseId: string): Promise<string> => {
        const database = `${method}_${caseId}`;
        await server.query(`CREATE DATABASE \`${database}\`; CREATE TABLE \`${database}\`.t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;
          INSERT INTO \`${database}\`.t SELECT seq, CONCAT('v', seq) FROM mysql.seq_1_to_${SEED_ROWS};`);
        current = database;
        return database;
      };
      return {
        store,
        member: async (caseId) => memberOf(await seed(caseId)),
        async writeMore(member) {
          await server.query(
            `INSERT INTO \`${member.namespaces[0]}\`.t VALUES (${SEED_ROWS + 1}, 'after capture')`,
          );
        },
        async rows(connection: StorageConfig) {
          const c = connection as { host: string; port: number; user: string; database?: string };
          const client = await mysql.createConnection({ host: c.host, port: c.port, user: c.user });
          try {
            const [rows] = await client.query(`SELECT id, v FROM \`${c.database ?? current}\`.t ORDER BY id`);
            return rows as unknown[];
          } finally {
            await client.end();
          }
        },
        target(caseId) {
          if (method === 'logical') return Promise.resolve(undefined);
          const dir = join(store.location, `restored-${caseId}`);
          restoredDirs.push(dir);
          return Promise.resolve({ dir });
        },
        async foreignTarget(caseId) {
          if (method === 'logical') {
            const database = `foreign_${caseId}`;
            await server.query(
              `CREATE DATABASE \`${database}\`; CREATE TABLE \`${database}\`.not_ours (x INT)`,
            );
            return { rename: { [current]: database } };
          }
          const dir = join(store.location, `foreign-${caseId}`);
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, 'ibdata1'), 'not ours');
          return { dir };
        },
        async deadPath(caseId) {
          const database = await seed(caseId);
          const proxy = await startTcpProxy({ upstreamHost: '127.0.0.1', upstreamPort: server.port });
          return {
            member: memberOf(database, proxy.port),
            silence: () => proxy.setMode({ kind: 'drop' }),
            close: () => proxy.close(),
          };
        },
        async afterRestore(target) {
          if (typeof target.dir === 'string') await stopRestoredMariaDb(target.dir);
        },
        async teardown() {
          for (const dir of restoredDirs) {
            await stopRestoredMariaDb(dir);
            await rm(dir, { recursive: true, force: true });
          }
          await store.destroy();
          await releaseServer();
        },
      };
    },
  };
}
