/**
 * The engine contract suite over every (engine, method) pair. One PostgreSQL server (archiving on, for
 * PITR) is shared across the file; every case gets a fresh database. MariaDB pairs are added by their own
 * fixtures: one `engineContractSuite(...)` line each.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { MemberSpec } from '../../src/engines/contract.ts';
import { stopRestoredPostgres } from '../../src/engines/postgres/pitr/restore.ts';
import { suggestedArchiveCommand } from '../../src/engines/postgres/pitr/archive.ts';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import { freePort, handOver } from '../../src/lab/local-servers/process.ts';
import { startTcpProxy } from '../../src/lab/trials/tcp-proxy.ts';
import type { StorageConfig } from '../../src/txn/contract.ts';
import {
  engineContractSuite,
  leakedSince,
  resources,
  type EnginePair,
  type PairFixture,
} from './engine-contract.ts';
import { tempDirStore } from './support.ts';
import { mariadbPair } from './mariadb/contract-pairs.ts';
import { dynamodbPair } from './dynamodb/contract-pair.ts';

const SEED_ROWS = 50;

// ---- SQLite snapshot -------------------------------------------------------------------------------------

const sqliteSnapshot: EnginePair = {
  label: 'sqlite snapshot',
  async setup(): Promise<PairFixture> {
    const store = await tempDirStore();
    const dir = join(store.location, 'dbs');
    mkdirSync(dir, { recursive: true });
    const sqliteRows = (path: string): unknown[] => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare('SELECT id, v FROM t ORDER BY id').all();
      } finally {
        db.close();
      }
    };
    return {
      store,
      member(caseId) {
        const path = join(dir, `${caseId}.db`);
        const db = new Database(path);
        db.pragma('journal_mode = WAL');
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
        const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
        db.transaction(() => {
          for (let i = 0; i < SEED_ROWS; i++) insert.run(`v${i}`);
        })();
        db.close();
        return Promise.resolve({
          name: 'lite',
          engine: 'sqlite',
          connection: { kind: 'sqlite', path },
          namespaces: ['coordinator'],
          options: {},
        });
      },
      writeMore(member) {
        const db = new Database((member.connection as { path: string }).path);
        db.prepare('INSERT INTO t (v) VALUES (?)').run('after capture');
        db.close();
        return Promise.resolve();
      },
      rows: (connection) => Promise.resolve(sqliteRows((connection as { path: string }).path)),
      target: (caseId) => Promise.resolve({ path: join(dir, `${caseId}-restored.db`) }),
      foreignTarget(caseId) {
        const path = join(dir, `${caseId}-foreign.db`);
        writeFileSync(path, 'not a restore of ours');
        return Promise.resolve({ path });
      },
      teardown: () => store.destroy(),
    };
  },
};

// ---- PostgreSQL (one shared server, a database per case) -----------------------------------------------

let shared:
  { server: LocalPostgres; store: Awaited<ReturnType<typeof tempDirStore>>; users: number } | undefined;

/** One archiving server and store for both PostgreSQL pairs (the PITR member's WAL lands in the store). */
async function sharedPostgres(): Promise<NonNullable<typeof shared>> {
  if (shared === undefined) {
    const store = await tempDirStore();
    const walDir = store.localPath('shared/pgpitr/wal')!;
    await mkdir(walDir, { recursive: true });
    await handOver('postgres', store.localPath('shared')!, store.localPath('shared/pgpitr')!, walDir);
    const server = await startLocalPostgres({
      conf: [
        'wal_level = replica',
        'archive_mode = on',
        `archive_command = '${suggestedArchiveCommand(walDir).replaceAll("'", "''")}'`,
      ],
    });
    shared = { server, store, users: 0 };
  }
  shared.users++;
  return shared;
}

async function releaseShared(): Promise<void> {
  if (shared === undefined || --shared.users > 0) return;
  const { server, store } = shared;
  shared = undefined;
  await server.destroy();
  await store.destroy();
}

async function pgRows(connection: StorageConfig): Promise<unknown[]> {
  const c = connection as { host: string; port: number; user: string; database: string };
  const client = new pg.Client({ host: c.host, port: c.port, user: c.user, database: c.database });
  await client.connect();
  try {
    return (await client.query('SELECT id, v FROM t ORDER BY id')).rows as unknown[];
  } finally {
    await client.end();
  }
}

function postgresPair(method: 'logical' | 'pitr'): EnginePair {
  const name = method === 'pitr' ? 'pgpitr' : 'pglogical';
  return {
    label: `postgres ${method}`,
    async setup(): Promise<PairFixture> {
      const { server, store } = await sharedPostgres();
      const memberOf = (database: string, port = server.port): MemberSpec => ({
        name,
        engine: 'postgres',
        connection: { ...server.connection(database), port },
        namespaces: ['coordinator'],
        options: { method, connectTimeoutMs: 1_000, archiveTimeoutMs: 30_000 },
      });
      const restoredDirs: string[] = [];
      return {
        store,
        async member(caseId) {
          const database = `${method}_${caseId}`;
          await server.createDatabase(database);
          await server.query(
            `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, ${SEED_ROWS}) g;`,
            [],
            database,
          );
          return memberOf(database);
        },
        async writeMore(member) {
          await server.query(
            `INSERT INTO t VALUES (${SEED_ROWS + 1}, 'after capture')`,
            [],
            (member.connection as { database: string }).database,
          );
        },
        rows: pgRows,
        async target(caseId) {
          if (method === 'logical') return { database: `restored_${caseId}` };
          const dataDir = join(store.location, `restored-${caseId}`);
          restoredDirs.push(dataDir);
          return { dataDir, port: await freePort() };
        },
        async foreignTarget(caseId) {
          if (method === 'logical') {
            const database = `foreign_${caseId}`;
            await server.createDatabase(database);
            await server.query('CREATE TABLE not_ours (x int)', [], database);
            return { database };
          }
          const dataDir = join(store.location, `foreign-${caseId}`);
          mkdirSync(dataDir, { recursive: true });
          writeFileSync(join(dataDir, 'PG_VERSION'), '15\n');
          return { dataDir, port: await freePort() };
        },
        async deadPath(caseId) {
          const database = `${method}_${caseId}`;
          await server.createDatabase(database);
          await server.query(
            `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, ${SEED_ROWS}) g;`,
            [],
            database,
          );
          const proxy = await startTcpProxy({ upstreamHost: server.host, upstreamPort: server.port });
          return {
            member: memberOf(database, proxy.port),
            silence: () => proxy.setMode({ kind: 'drop' }),
            close: () => proxy.close(),
          };
        },
        async afterRestore(target) {
          if (typeof target.dataDir === 'string') await stopRestoredPostgres(target.dataDir);
        },
        async teardown() {
          for (const dir of restoredDirs) {
            await stopRestoredPostgres(dir);
            await rm(dir, { recursive: true, force: true });
          }
          await releaseShared();
        },
      };
    },
  };
}

engineContractSuite(sqliteSnapshot);
engineContractSuite(postgresPair('logical'));
engineContractSuite(postgresPair('pitr'));
engineContractSuite(mariadbPair('logical'));
engineContractSuite(mariadbPair('pitr'));
engineContractSuite(dynamodbPair);

describe('the leak check itself (negative control)', () => {
  it('sees an open socket and a child process, and not once they are gone', async () => {
    const before = resources();
    const server = await startLocalPostgres();
    try {
      const baseline = resources();
      const client = new pg.Client(server.connection('postgres'));
      await client.connect();
      const child = spawn('sleep', ['30']);
      expect(leakedSince(baseline).join('\n')).toMatch(/TCPWRAP|TCPSocketWrap/);
      expect(leakedSince(baseline).join('\n')).toContain(`child pid ${child.pid}`);
      await client.end();
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('close', resolve));
      await expect.poll(() => leakedSince(baseline)).toEqual([]);
    } finally {
      await server.destroy();
    }
    await expect.poll(() => leakedSince(before)).toEqual([]);
  }, 60_000);
});
