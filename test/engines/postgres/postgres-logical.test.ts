import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startLocalPostgres, type LocalPostgres } from '../../../src/local-servers/postgres-server.ts';
import { createPostgresEngine } from '../../../src/engines/postgres/postgres-engine.ts';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { startTcpProxy } from '../../../src/trials/tcp-proxy.ts';
import { finishWindow, phaseContext, restoreContext, tempDirStore } from './test-support.ts';

type Store = Awaited<ReturnType<typeof tempDirStore>>;

let server: LocalPostgres;
let store: Store;
const engine = createPostgresEngine();

async function rows(conn: { host: string; port: number; user: string; database: string }): Promise<string> {
  const client = new pg.Client(conn);
  await client.connect();
  try {
    const a = await client.query('SELECT id, balance FROM bank.accounts ORDER BY id');
    const c = await client.query('SELECT tx_id, tx_state FROM coordinator.state ORDER BY tx_id');
    return JSON.stringify({ accounts: a.rows, coordinator: c.rows });
  } finally {
    await client.end();
  }
}

async function transfers(n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await server.query(
      `BEGIN; UPDATE bank.accounts SET balance = balance - 7 WHERE id = ${i % 50};
       UPDATE bank.accounts SET balance = balance + 7 WHERE id = ${(i * 13 + 1) % 50};
       INSERT INTO coordinator.state VALUES ('${tag}-${i}', 3); COMMIT;`,
      [],
      'bank',
    );
  }
}

function member(options: Record<string, unknown>): MemberSpec {
  return { name: 'pg', engine: 'postgres', connection: server.connection('bank'), namespaces: ['bank', 'coordinator'], options };
}

beforeAll(async () => {
  server = await startLocalPostgres();
  store = await tempDirStore();
  await server.createDatabase('bank');
  await server.query(
    `CREATE SCHEMA bank; CREATE SCHEMA coordinator;
     CREATE TABLE bank.accounts (id int PRIMARY KEY, balance bigint NOT NULL, note text);
     CREATE TABLE coordinator.state (tx_id text PRIMARY KEY, tx_state int NOT NULL);
     INSERT INTO bank.accounts SELECT g, 1000, repeat('x', g) FROM generate_series(0, 49) g;`,
    [],
    'bank',
  );
});

afterAll(async () => {
  await server?.destroy();
  await store?.destroy();
});

describe('postgres logical engine', () => {
  for (const format of ['directory', 'custom'] as const) {
    it(`restores exactly the exported snapshot (${format}), not writes made after capture`, async () => {
      const spec = member({ method: 'logical', format, jobs: 2 });
      engine.validateOptions(spec);
      const backupId = `bk-${format}-0001`;
      const ctx = phaseContext(store, spec, backupId);
      const checks = await engine.preflight(ctx);
      expect(checks.every((c) => c.ok)).toBe(true);
      await transfers(20, `before-${format}`);
      const atCapture = await rows(server.connection('bank'));
      const capture = await engine.capture(ctx);
      expect(capture.handle?.kind).toBe('snapshot');
      await transfers(20, `after-${format}`);
      await server.query(`INSERT INTO bank.accounts VALUES (1000, 5, 'late')`, [], 'bank');
      await server.query(`DELETE FROM bank.accounts WHERE id = 1000`, [], 'bank').catch(() => {});
      await server.query(`INSERT INTO bank.accounts VALUES (1000 + ${format.length}, 5, 'late')`, [], 'bank');
      const finished = await capture.finish(ctx, finishWindow);
      expect(finished.bytes).toBeGreaterThan(0);
      expect(finished.artifacts.length).toBeGreaterThan(0);
      for (const ref of finished.artifacts) expect(await store.verify(ref)).toBe(true);
      const now = await rows(server.connection('bank'));
      expect(now).not.toBe(atCapture);

      const record: MemberRecord = { backupId, member: spec, handle: finished.handle, artifacts: finished.artifacts };
      const target = engine.parseRestoreTarget(record, undefined);
      expect(target.database).toBe(`bank_restored_${`bk${format}0001`.slice(-12)}`);
      const plan = await engine.planRestore(restoreContext(store, record, target));
      expect(plan.some((s) => (s.detail ?? '').includes('pg_restore'))).toBe(true);
      const restored = await engine.restore(restoreContext(store, record, target));
      expect(restored.connection.kind).toBe('postgres');
      expect(await rows(restored.connection as never)).toBe(atCapture);

      await expect(engine.restore(restoreContext(store, record, target))).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
      const again = await engine.restore(restoreContext(store, record, target, true));
      expect(await rows(again.connection as never)).toBe(atCapture);
    });
  }

  it('a capture stuck on a silent network path ends as soon as its signal aborts', async () => {
    const direct = server.connection('bank');
    const proxy = await startTcpProxy({ upstreamHost: direct.host, upstreamPort: direct.port });
    try {
      const m: MemberSpec = { ...member({ method: 'logical' }), connection: { ...direct, port: proxy.port } };
      const controller = new AbortController();
      const ctx = { ...phaseContext(store, m, 'bk-silent'), signal: controller.signal };
      await engine.prepare(ctx); // the pre-opened connection goes through the proxy
      proxy.setMode({ kind: 'drop' });
      const capture = engine.capture(ctx);
      setTimeout(() => controller.abort(), 200);
      // Without the abort the liveness check of the pre-opened connection waits for query_timeout (10 min).
      await expect(capture).rejects.toThrow();
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('discard() closes the connection prepare opened when no capture took it', async () => {
    const backends = async (): Promise<number> => {
      const r = await server.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = 'bank' AND pid <> pg_backend_pid()`, [], 'bank');
      return Number((r.rows[0] as { n: string } | undefined)?.n);
    };
    const ctx = phaseContext(store, member({ method: 'logical' }), 'bk-discard');
    const before = await backends();
    await engine.prepare(ctx);
    expect(await backends()).toBe(before + 1);
    await engine.discard?.(ctx);
    await expect.poll(backends).toBe(before);
  });

  it('release() ends the exporting transaction without dumping', async () => {
    const ctx = phaseContext(store, member({}), 'bk-release');
    const capture = await engine.capture(ctx);
    await capture.release();
    await capture.release();
    const open = await server.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'`);
    expect(open.rows[0].n).toBe(0);
    expect(await store.list('bk-release/')).toEqual([]);
  });

  it('measures the database clock with a round trip', async () => {
    const sample = await engine.measureClock!(phaseContext(store, member({}), 'bk-clock'));
    expect(Math.abs(sample.offsetMs)).toBeLessThan(1000);
    expect(sample.uncertaintyMs).toBeGreaterThanOrEqual(sample.rttMs / 2);
  });

  it('flags bad credentials, a missing tool and bad options', async () => {
    const bad: MemberSpec = { ...member({ binDir: '/nonexistent' }), connection: { ...server.connection('bank'), user: 'stillpoint', password: 'wrong' } };
    const checks = await engine.preflight(phaseContext(store, bad, 'bk-bad'));
    expect(checks.find((c) => c.name === 'connect')?.ok).toBe(false);
    expect(checks.find((c) => c.name === 'tool pg_dump')?.ok).toBe(false);
    expect(() => engine.validateOptions(member({ method: 'nope' }))).toThrow(expect.objectContaining({ code: 'ENGINE_OPTIONS_INVALID' }));
    const capture = engine.capture(phaseContext(store, bad, 'bk-bad'));
    await expect(capture).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
  });
});
