/**
 * The backup run's ownership of engine sessions, against real PostgreSQL and SQLite and real admin servers:
 * fan-outs settle per member (issue 11 row 10), finish has a deadline (issue 11 row 11).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { startLocalPostgres, type LocalPostgres } from '../../src/lab/local-servers/postgres-server.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { startTcpProxy, type TcpProxy } from '../../src/lab/trials/tcp-proxy.ts';
import { makeSqliteDb, startAdminNode, tempDir, type AdminNode } from './helpers.ts';

let server: LocalPostgres;
let tmp: ReturnType<typeof tempDir>;
let node: AdminNode;

beforeAll(async () => {
  server = await startLocalPostgres();
  await server.createDatabase('bank');
  await server.query(
    'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);',
    [],
    'bank',
  );
  tmp = tempDir('sp-sessions-');
  node = await startAdminNode();
}, 60_000);

afterAll(async () => {
  await node?.server.close();
  await server?.destroy();
  tmp?.cleanup();
});

function writePlan(name: string, pgPort: number, withSqlite: boolean): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  if (withSqlite) makeSqliteDb(join(dir, 'a.db'));
  const pg = {
    name: 'pg',
    engine: 'postgres',
    connection: { kind: 'postgres', host: '127.0.0.1', port: pgPort, user: 'postgres', database: 'bank' },
    namespaces: ['bank_b', 'coordinator'],
    options: { method: 'logical', connectTimeoutMs: 1000 },
  };
  const plan = {
    version: 1,
    group: name,
    clusters: withSqlite
      ? [{ name: 'nodes', targets: { addresses: [`127.0.0.1:${node.port}`] }, leaseMs: 2000 }]
      : [],
    members: [
      ...(withSqlite
        ? [
            {
              name: 'a',
              engine: 'sqlite',
              connection: { kind: 'sqlite', path: './a.db' },
              namespaces: ['bank_a'],
            },
          ]
        : []),
      pg,
    ],
  };
  const file = join(dir, 'plan.yaml');
  writeFileSync(file, JSON.stringify(plan, null, 2));
  return file;
}

async function withProxy<T>(work: (proxy: TcpProxy) => Promise<T>): Promise<T> {
  const proxy = await startTcpProxy({ upstreamHost: server.host, upstreamPort: server.port });
  try {
    return await work(proxy);
  } finally {
    await proxy.close();
  }
}

describe('backup sessions', () => {
  it('issue 11 row 11: a finish stuck on a dead database path ends at finishTimeoutMs, unpaused and recorded', async () => {
    await withProxy(async (proxy) => {
      const plan = loadPlan(writePlan('finish-deadline', proxy.port, false));
      const catalog = openCatalog(plan.catalogPath);
      try {
        const started = Date.now();
        const result = await runBackup({
          plan,
          catalog,
          finishTimeoutMs: 1_500,
          onEvent: (e) => {
            if (e.type === 'member' && e.step === 'captured') proxy.setMode({ kind: 'drop' });
          },
        });
        expect(result.state).toBe('failed');
        expect(result.reason).toMatch(/^FINISH_TIMEOUT/);
        // pg_dump's own connect timeout is 10 s: ending well before it shows the deadline did it.
        expect(Date.now() - started).toBeLessThan(8_000);
        expect(result.members[0]?.state).toBe('failed');
      } finally {
        catalog.close();
      }
    });
  }, 30_000);

  it('issue 11 row 10: a failing prepare is reported per member, the others settle, every session is closed', async () => {
    await withProxy(async (proxy) => {
      const plan = loadPlan(writePlan('prepare-fanout', proxy.port, true));
      const catalog = openCatalog(plan.catalogPath);
      try {
        const result = await runBackup({
          plan,
          catalog,
          onEvent: (e) => {
            // Preflight passed through the proxy; prepare's connection meets a silent network.
            if (e.type === 'member' && e.step === 'preflight' && e.member === 'pg')
              proxy.setMode({ kind: 'drop' });
          },
        });
        expect(result.state).toBe('failed');
        expect(result.reason).toMatch(/^PREPARE_FAILED: pg:/);
        expect(result.members.find((m) => m.name === 'pg')).toMatchObject({
          state: 'failed',
          error: expect.stringMatching(/^prepare:/),
        });
        expect(result.members.find((m) => m.name === 'a')?.state).toBe('ready');
        expect(node.gate.paused).toBe(false);
      } finally {
        catalog.close();
      }
    });
  }, 30_000);
});
