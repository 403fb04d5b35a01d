import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startLocalPostgres, type LocalPostgres } from '../../../src/lab/local-servers/postgres-server.ts';
import { postgresEngine } from '../../../src/engines/postgres/engine.ts';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { startTcpProxy } from '../../../src/lab/trials/tcp-proxy.ts';
import { finishWindow, never, openBackup, openRestore, tempDirStore } from '../support.ts';

type Store = Awaited<ReturnType<typeof tempDirStore>>;

let server: LocalPostgres;
let store: Store;

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
  return {
    name: 'pg',
    engine: 'postgres',
    connection: server.connection('bank'),
    namespaces: ['bank', 'coordinator'],
    options,
  };
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
      expect(postgresEngine.capabilities(postgresEngine.parseOptions(spec)).horizonWait).toBe(false);
      const backupId = `bk-${format}-0001`;
      const session = openBackup(store, spec, backupId);
      const checks = await session.preflight(never);
      expect(checks.every((c) => c.ok)).toBe(true);
      await session.prepare(never);
      await transfers(20, `before-${format}`);
      const atCapture = await rows(server.connection('bank'));
      const capture = await session.capture(never);
      expect(capture.handle?.kind).toBe('snapshot');
      await transfers(20, `after-${format}`);
      await server.query(`INSERT INTO bank.accounts VALUES (1000, 5, 'late')`, [], 'bank');
      await server.query(`DELETE FROM bank.accounts WHERE id = 1000`, [], 'bank').catch(() => {});
      await server.query(`INSERT INTO bank.accounts VALUES (1000 + ${format.length}, 5, 'late')`, [], 'bank');
      const finished = await session.finish(finishWindow, never);
      await session.close();
      expect(finished.bytes).toBeGreaterThan(0);
      expect(finished.artifacts.length).toBeGreaterThan(0);
      for (const ref of finished.artifacts) expect(await store.verify(ref)).toBe(true);
      const now = await rows(server.connection('bank'));
      expect(now).not.toBe(atCapture);

      const record: MemberRecord = {
        backupId,
        member: spec,
        handle: finished.handle,
        artifacts: finished.artifacts,
      };
      const restore = openRestore(store, record, undefined);
      expect(restore.target.database).toBe(`bank_restored_${`bk${format}0001`.slice(-12)}`);
      const plan = await restore.plan();
      expect(plan.some((s) => (s.detail ?? '').includes('pg_restore'))).toBe(true);
      expect((await restore.inspect(never)).state).toBe('absent');
      const restored = await restore.restore({ force: false, signal: never });
      expect(restored.connection.kind).toBe('postgres');
      expect(await rows(restored.connection as never)).toBe(atCapture);
      // Not marked finished yet: an unfinished restore of this backup is redone without force.
      expect((await restore.inspect(never)).state).toBe('in-progress');
      await restore.restore({ force: false, signal: never });
      await restore.markFinished();
      expect((await restore.inspect(never)).state).toBe('restored');
      await expect(restore.restore({ force: false, signal: never })).rejects.toMatchObject({
        code: 'RESTORE_TARGET_NOT_EMPTY',
      });
      const again = await restore.restore({ force: true, signal: never });
      expect(await rows(again.connection as never)).toBe(atCapture);
      await restore.close();
    });
  }

  it('a capture stuck on a silent network path ends as soon as its signal aborts', async () => {
    const direct = server.connection('bank');
    const proxy = await startTcpProxy({ upstreamHost: direct.host, upstreamPort: direct.port });
    try {
      const m: MemberSpec = {
        ...member({ method: 'logical', connectTimeoutMs: 2_000 }),
        connection: { ...direct, port: proxy.port },
      };
      const controller = new AbortController();
      const session = openBackup(store, m, 'bk-silent');
      await session.prepare(never); // the pre-opened connection goes through the proxy
      proxy.setMode({ kind: 'drop' });
      const capture = session.capture(controller.signal);
      setTimeout(() => controller.abort(), 200);
      // Without the abort the capture on the pre-opened connection waits for query_timeout (10 min).
      await expect(capture).rejects.toMatchObject({ code: 'ABORTED' });
      await session.close();
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('close() closes the connection prepare opened when no capture took it', async () => {
    const backends = async (): Promise<number> => {
      const r = await server.query(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = 'bank' AND pid <> pg_backend_pid()`,
        [],
        'bank',
      );
      return Number((r.rows[0] as { n: string } | undefined)?.n);
    };
    const session = openBackup(store, member({ method: 'logical' }), 'bk-discard');
    const before = await backends();
    await session.prepare(never);
    expect(await backends()).toBe(before + 1);
    await session.close();
    await expect.poll(backends).toBe(before);
  });

  it('discard() ends the exporting transaction without dumping', async () => {
    const session = openBackup(store, member({}), 'bk-release');
    await session.capture(never);
    await session.discard();
    await session.discard();
    await session.close();
    const open = await server.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'`,
    );
    expect(open.rows[0].n).toBe(0);
    expect(await store.list('bk-release/')).toEqual([]);
  });

  it('measures the database clock with a round trip', async () => {
    const session = openBackup(store, member({}), 'bk-clock');
    const sample = await session.measureClock!(never);
    await session.close();
    expect(Math.abs(sample.offsetMs)).toBeLessThan(1000);
    expect(sample.uncertaintyMs).toBeGreaterThanOrEqual(sample.rttMs / 2);
  });

  it('flags bad credentials, a missing tool and bad options', async () => {
    const bad: MemberSpec = {
      ...member({ binDir: '/nonexistent' }),
      connection: { ...server.connection('bank'), user: 'stillpoint', password: 'wrong' },
    };
    const session = openBackup(store, bad, 'bk-bad');
    const checks = await session.preflight(never);
    expect(checks.find((c) => c.name === 'connect')?.ok).toBe(false);
    expect(checks.find((c) => c.name === 'tool pg_dump')?.ok).toBe(false);
    expect(() => postgresEngine.parseOptions(member({ method: 'nope' }))).toThrow(
      expect.objectContaining({ code: 'ENGINE_OPTIONS_INVALID' }),
    );
    await expect(session.capture(never)).rejects.toMatchObject({ code: 'CAPTURE_FAILED' });
    await session.close();
  });

  it('issue 19 item 5: a restore target may carry its own credentials', async () => {
    const spec = member({ method: 'logical' });
    const session = openBackup(store, spec, 'bk-creds');
    await session.capture(never);
    const finished = await session.finish(finishWindow, never);
    await session.close();
    const record: MemberRecord = {
      backupId: 'bk-creds',
      member: spec,
      handle: finished.handle,
      artifacts: finished.artifacts,
    };
    const { user, password } = server.passwordUser;
    const wrong = openRestore(store, record, { database: 'bank_creds', user, password: 'wrong' });
    const inspection = await wrong.inspect(never);
    expect(inspection.checks.find((c) => c.name === 'connect')?.ok).toBe(false);
    await expect(wrong.restore({ force: false, signal: never })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_UNUSABLE',
    });
    await wrong.close();
    process.env.STILLPOINT_TEST_TARGET_PW = password;
    const right = openRestore(store, record, {
      database: 'bank_creds',
      user,
      passwordEnv: 'STILLPOINT_TEST_TARGET_PW',
    });
    expect((await right.inspect(never)).state).toBe('absent');
    const restored = await right.restore({ force: false, signal: never });
    expect(restored.connection).toMatchObject({
      user,
      passwordEnv: 'STILLPOINT_TEST_TARGET_PW',
      database: 'bank_creds',
    });
    expect(restored.connection).not.toHaveProperty('password');
    await right.close();
  });
});
