import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { startLocalMariaDb, type LocalMariaDb } from '../../../src/local-servers/mariadb-server.ts';
import { createMariaDbEngine } from '../../../src/engines/mariadb/mariadb-engine.ts';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { finishWindow, phaseContext, restoreContext, tempDirStore } from '../postgres/test-support.ts';
import { startTcpProxy } from '../../../src/trials/tcp-proxy.ts';

type Store = Awaited<ReturnType<typeof tempDirStore>>;

let server: LocalMariaDb;
let store: Store;
const engine = createMariaDbEngine();

/** Every row of both databases (optionally renamed), as one comparable string. */
async function contents(port: number, names: { bank: string; coordinator: string } = { bank: 'bank', coordinator: 'coordinator' }): Promise<string> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
  try {
    const [a] = await c.query(`SELECT id, balance, note, amount, HEX(raw) AS raw, at, maybe FROM \`${names.bank}\`.accounts ORDER BY id`);
    const [s] = await c.query(`SELECT tx_id, tx_state FROM \`${names.coordinator}\`.state ORDER BY tx_id`);
    return JSON.stringify({ a, s });
  } finally {
    await c.end();
  }
}

async function transfers(n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await server.query(
      `START TRANSACTION; UPDATE bank.accounts SET balance = balance - 7 WHERE id = ${i % 40};
       UPDATE bank.accounts SET balance = balance + 7 WHERE id = ${(i * 11 + 1) % 40};
       INSERT INTO coordinator.state VALUES ('${tag}-${i}', 3); COMMIT;`,
    );
  }
}

function member(options: Record<string, unknown>): MemberSpec {
  return { name: 'maria', engine: 'mariadb', connection: server.connection(), namespaces: ['bank', 'coordinator'], options };
}

beforeAll(async () => {
  server = await startLocalMariaDb();
  store = await tempDirStore();
  await server.query(
    `CREATE DATABASE bank CHARACTER SET utf8mb4; CREATE DATABASE coordinator;
     CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL, note TEXT, amount DECIMAL(20,6), raw BLOB, at DATETIME(6), maybe INT NULL) ENGINE=InnoDB;
     CREATE TABLE coordinator.state (tx_id VARCHAR(64) PRIMARY KEY, tx_state INT NOT NULL) ENGINE=InnoDB;`,
  );
  const values = Array.from({ length: 40 }, (_, i) => `(${i}, 1000, 'note ''${i}''\\n\\\\ é ✓', 12345678901234.${String(i).padStart(6, '0')}, UNHEX('00FF${i.toString(16).padStart(2, '0')}0A0D'), '2026-01-02 03:04:05.${String(i).padStart(6, '0')}', ${i % 3 === 0 ? 'NULL' : i})`);
  await server.query(`INSERT INTO bank.accounts VALUES ${values.join(',')}`);
});

afterAll(async () => {
  await server?.destroy();
  await store?.destroy();
});

describe('mariadb logical engine', () => {
  it('a dump on a path gone silent fails as DUMP_STALLED, and releasing does not hang', async () => {
    const direct = server.connection();
    const proxy = await startTcpProxy({ upstreamHost: direct.host, upstreamPort: direct.port });
    try {
      const spec: MemberSpec = { ...member({ method: 'logical', jobs: 2, dumpStallMs: 500 }), connection: { ...direct, port: proxy.port } };
      const ctx = phaseContext(store, spec, 'bk-stall');
      await engine.prepare(ctx);
      const capture = await engine.capture(ctx);
      proxy.setMode({ kind: 'drop' });
      // Without the watchdog the first query of the dump waits forever (mysql2 has no read timeout).
      await expect(capture.finish(ctx, finishWindow)).rejects.toMatchObject({ code: 'DUMP_STALLED' });
    } finally {
      await proxy.close();
    }
  }, 30_000);

  for (const gzip of [false, true]) {
    it(`restores exactly the consistent snapshot${gzip ? ' (gzip)' : ''}, not writes made after capture`, async () => {
      const spec = member({ method: 'logical', jobs: 2, gzip, batchBytes: 4096 });
      engine.validateOptions(spec);
      const backupId = `bk-m-${gzip ? 'gz' : 'plain'}`;
      const ctx = phaseContext(store, spec, backupId);
      expect((await engine.preflight(ctx)).filter((c) => !c.ok)).toEqual([]);
      await transfers(20, `before-${gzip}`);
      const atCapture = await contents(server.port);
      const capture = await engine.capture(ctx);
      expect(capture.handle?.kind).toBe('snapshot');
      await transfers(20, `after-${gzip}`);
      const finished = await capture.finish(ctx, finishWindow);
      expect(finished.detail?.connections).toBe(2);
      for (const ref of finished.artifacts) expect(await store.verify(ref)).toBe(true);
      expect(await contents(server.port)).not.toBe(atCapture);

      const record: MemberRecord = { backupId, member: spec, handle: finished.handle, artifacts: finished.artifacts };
      const target = engine.parseRestoreTarget(record, undefined);
      const plan = await engine.planRestore(restoreContext(store, record, target));
      expect(plan.length).toBeGreaterThan(0);
      const restored = await engine.restore(restoreContext(store, record, target));
      const names = restored.namespaces as { bank: string; coordinator: string };
      expect(names.bank).toMatch(/^bank_r_/);
      expect(await contents(server.port, names)).toBe(atCapture);
      await expect(engine.restore(restoreContext(store, record, target))).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
      await engine.restore(restoreContext(store, record, target, true));
      expect(await contents(server.port, names)).toBe(atCapture);
    });
  }

  it('release() closes every snapshot connection; bad credentials and options are flagged', async () => {
    const capture = await engine.capture(phaseContext(store, member({ jobs: 3 }), 'bk-rel'));
    await capture.release();
    await capture.release();
    const rows = (await server.query(`SELECT count(*) AS n FROM information_schema.processlist WHERE command <> 'Daemon' AND id <> CONNECTION_ID()`)) as Array<{ n: number }>;
    expect(Number(rows[0]!.n)).toBe(0);
    const bad: MemberSpec = { ...member({}), connection: { ...server.connection(), user: 'stillpoint', password: 'wrong' } };
    expect((await engine.preflight(phaseContext(store, bad, 'x'))).find((c) => c.name === 'connect')?.ok).toBe(false);
    await expect(engine.capture(phaseContext(store, bad, 'x'))).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
    expect(() => engine.validateOptions(member({ jobs: 0 }))).toThrow(expect.objectContaining({ code: 'ENGINE_OPTIONS_INVALID' }));
    const clock = await engine.measureClock!(phaseContext(store, member({}), 'x'));
    expect(Math.abs(clock.offsetMs)).toBeLessThan(1000);
  });
});
