import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { startLocalMariaDb, type LocalMariaDb } from '../../../src/lab/local-servers/mariadb-server.ts';
import { mariadbEngine } from '../../../src/engines/mariadb/engine.ts';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { startTcpProxy } from '../../../src/lab/trials/tcp-proxy.ts';
import {
  backup,
  clientConnections,
  settledConnections,
  finishWindow,
  never,
  openBackup,
  openRestore,
  tempDirStore,
  type Store,
} from './support.ts';

let server: LocalMariaDb;
let store: Store;

type Names = { bank: string; coordinator: string; scalardb: string };
const LIVE: Names = { bank: 'bank', coordinator: 'coordinator', scalardb: 'scalardb' };

/** Every row of the three databases (optionally renamed), as one comparable string. */
async function contents(port: number, names: Names = LIVE): Promise<string> {
  const c = await mysql.createConnection({
    host: '127.0.0.1',
    port,
    user: 'root',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  try {
    const [a] = await c.query(
      `SELECT id, balance, note, amount, HEX(raw) AS raw, at, maybe FROM \`${names.bank}\`.accounts ORDER BY id`,
    );
    const [k] = await c.query(
      `SELECT id, HEX(b) AS b, HEX(bin) AS bin, txt, inv, gen, f, d, HEX(g) AS g FROM \`${names.bank}\`.kinds ORDER BY id`,
    );
    const [s] = await c.query(`SELECT tx_id, tx_state FROM \`${names.coordinator}\`.state ORDER BY tx_id`);
    const [m] = await c.query(
      `SELECT * FROM \`${names.scalardb}\`.metadata ORDER BY full_table_name, column_name`,
    );
    return JSON.stringify({ a, k, s, m });
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
  return {
    name: 'maria',
    engine: 'mariadb',
    connection: server.connection(),
    namespaces: ['bank', 'coordinator'],
    options,
  };
}

const renamedNames = (suffix: string): Names => ({
  bank: `bank_r_${suffix}`,
  coordinator: `coordinator_r_${suffix}`,
  scalardb: `scalardb_r_${suffix}`,
});

beforeAll(async () => {
  server = await startLocalMariaDb();
  store = await tempDirStore();
  await server.query(
    `CREATE DATABASE bank CHARACTER SET utf8mb4; CREATE DATABASE coordinator; CREATE DATABASE scalardb;
     CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL, note TEXT, amount DECIMAL(20,6), raw BLOB, at DATETIME(6), maybe INT NULL) ENGINE=InnoDB;
     CREATE TABLE bank.kinds (id INT AUTO_INCREMENT PRIMARY KEY, b BIT(5), bin VARBINARY(16), txt VARCHAR(64) CHARACTER SET latin1, inv INT INVISIBLE,
       gen INT AS (id * 2) VIRTUAL, f DOUBLE, d TIMESTAMP(3) NULL, g GEOMETRY NULL) ENGINE=InnoDB;
     CREATE TABLE coordinator.state (tx_id VARCHAR(64) PRIMARY KEY, tx_state INT NOT NULL) ENGINE=InnoDB;
     CREATE TABLE scalardb.metadata (full_table_name VARCHAR(128) NOT NULL, column_name VARCHAR(128) NOT NULL, data_type VARCHAR(20) NOT NULL,
       key_type VARCHAR(20), clustering_order VARCHAR(10), indexed BOOLEAN NOT NULL, ordinal_position INTEGER NOT NULL, PRIMARY KEY (full_table_name, column_name)) ENGINE=InnoDB;
     INSERT INTO scalardb.metadata VALUES ('bank.accounts', 'id', 'INT', 'PARTITION', NULL, 0, 1), ('bank.accounts', 'balance', 'BIGINT', NULL, NULL, 0, 2);
     SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO');
     INSERT INTO bank.kinds (id, b, bin, txt, inv, f, d, g) VALUES
       (0, b'10101', X'000A0D27225C1A', 'caf\\xe9 line\\r\\nnext', 7, 1.5e-300, '2026-01-02 03:04:05.123', ST_GeomFromText('POINT(1 2)')),
       (1, NULL, X'', '', NULL, NULL, NULL, NULL);`,
  );
  const values = Array.from(
    { length: 40 },
    (_, i) =>
      `(${i}, 1000, 'note ''${i}''\\n\\\\ é ✓', 12345678901234.${String(i).padStart(6, '0')}, UNHEX('00FF${i.toString(16).padStart(2, '0')}0A0D'), '2026-01-02 03:04:05.${String(i).padStart(6, '0')}', ${i % 3 === 0 ? 'NULL' : i})`,
  );
  await server.query(`INSERT INTO bank.accounts VALUES ${values.join(',')}`);
});

afterAll(async () => {
  await server?.destroy();
  await store?.destroy();
});

describe('mariadb logical engine', () => {
  it('capabilities come from the parsed options: logical does not wait for a horizon, pitr does', () => {
    expect(mariadbEngine.capabilities(mariadbEngine.parseOptions(member({})))).toMatchObject({
      horizonWait: false,
      atomicCapture: true,
    });
    expect(mariadbEngine.capabilities(mariadbEngine.parseOptions(member({ method: 'pitr' })))).toMatchObject({
      horizonWait: true,
    });
    expect(() => mariadbEngine.parseOptions(member({ jobs: 0 }))).toThrow(
      expect.objectContaining({ code: 'ENGINE_OPTIONS_INVALID' }),
    );
    expect(Object.isFrozen(mariadbEngine.parseOptions(member({})))).toBe(true);
  });

  it('a dump on a path gone silent fails as DUMP_STALLED, and close() does not hang', async () => {
    const direct = server.connection();
    const proxy = await startTcpProxy({ upstreamHost: direct.host, upstreamPort: direct.port });
    const session = openBackup(
      store,
      {
        ...member({ method: 'logical', jobs: 2, dumpStallMs: 500 }),
        connection: { ...direct, port: proxy.port },
      },
      'bk-stall',
    );
    try {
      await session.prepare(never());
      await session.capture(never());
      proxy.setMode({ kind: 'drop' });
      // Without the watchdog the first query of the dump waits forever (mysql2 has no read timeout).
      await expect(session.finish(finishWindow, never())).rejects.toMatchObject({ code: 'DUMP_STALLED' });
    } finally {
      const started = Date.now();
      await session.close();
      expect(Date.now() - started).toBeLessThan(10_000);
      await proxy.close();
    }
  }, 30_000);

  for (const gzip of [false, true]) {
    it(`restores exactly the consistent snapshot${gzip ? ' (gzip)' : ''} into renamed databases, scalardb included and mapped`, async () => {
      const spec = member({ method: 'logical', jobs: 2, gzip, batchBytes: 4096 });
      const backupId = `bk-m-${gzip ? 'gz' : 'plain'}`;
      const session = openBackup(store, spec, backupId);
      expect((await session.preflight(never())).filter((c) => !c.ok)).toEqual([]);
      await transfers(20, `before-${gzip}`);
      const atCapture = await contents(server.port);
      const record = await backup(store, spec, backupId, () => transfers(20, `after-${gzip}`));
      await session.close();
      expect(record.handle.kind).toBe('snapshot');
      for (const ref of record.artifacts) expect(await store.verify(ref)).toBe(true);
      expect(await contents(server.port)).not.toBe(atCapture);

      const restore = openRestore(store, record);
      try {
        expect((await restore.plan()).length).toBeGreaterThan(0);
        expect(await restore.inspect(never())).toMatchObject({ state: 'absent' });
        const restored = await restore.restore({ force: false, signal: never() });
        const names = restored.namespaces as Names;
        expect(names).toEqual(renamedNames(gzip ? 'bkmgz' : 'bkmplain'));
        expect(await contents(server.port, names)).toBe(atCapture);
      } finally {
        await restore.close();
      }
    });
  }

  it('a finished restore that was written to is never overwritten by a re-run without force (issue 11 row 3)', async () => {
    const spec = member({ jobs: 2 });
    const record = await backup(store, spec, 'bk-rerun');
    const names = renamedNames('bkrerun');
    const first = openRestore(store, record);
    await first.restore({ force: false, signal: never() });
    // Not finished yet (the checker has not run): a crash here leaves an in-progress leftover, safe to redo.
    expect(await first.inspect(never())).toMatchObject({ state: 'in-progress' });
    await first.restore({ force: false, signal: never() });
    await first.markFinished();
    await first.close();

    await server.query(`INSERT INTO \`${names.coordinator}\`.state VALUES ('written-after-restore', 3)`);
    const again = openRestore(store, record);
    try {
      const inspection = await again.inspect(never());
      expect(inspection.state).toBe('restored');
      expect(inspection.hint).toContain('--force');
      await expect(again.restore({ force: false, signal: never() })).rejects.toMatchObject({
        code: 'RESTORE_TARGET_NOT_EMPTY',
      });
      const kept = (await server.query(
        `SELECT count(*) AS n FROM \`${names.coordinator}\`.state WHERE tx_id = 'written-after-restore'`,
      )) as Array<{ n: number }>;
      expect(Number(kept[0]!.n)).toBe(1);
      await again.restore({ force: true, signal: never() });
      const gone = (await server.query(
        `SELECT count(*) AS n FROM \`${names.coordinator}\`.state WHERE tx_id = 'written-after-restore'`,
      )) as Array<{ n: number }>;
      expect(Number(gone[0]!.n)).toBe(0);
    } finally {
      await again.close();
    }
  });

  it('inspect tells empty, foreign, a leftover of another restore (with how to remove it), and the live source', async () => {
    const record = await backup(store, member({}), 'bk-insp');
    const target = (suffix: string): Record<string, unknown> => ({ suffix });
    await server.query('CREATE DATABASE bank_r_empty; CREATE DATABASE coordinator_r_empty');
    await server.query('CREATE DATABASE bank_r_foreign; CREATE TABLE bank_r_foreign.x (id INT PRIMARY KEY)');
    await server.query(
      `CREATE DATABASE bank_r_left COMMENT 'stillpoint-restore {"backupId":"bk-older","member":"maria","state":"in-progress"}'; CREATE TABLE bank_r_left.y (id INT PRIMARY KEY)`,
    );
    const cases: Array<[Record<string, unknown>, string, string | undefined]> = [
      [target('empty'), 'empty', undefined],
      [target('foreign'), 'foreign', 'other names'],
      [target('left'), 'foreign', 'leftover of an unfinished restore of backup bk-older'],
      [{ inPlace: true }, 'live-source', "member's live database"],
    ];
    for (const [t, state, hint] of cases) {
      const s = openRestore(store, record, t);
      try {
        const inspection = await s.inspect(never());
        expect(inspection.state).toBe(state);
        if (hint) expect(inspection.hint).toContain(hint);
        if (state === 'foreign')
          await expect(s.restore({ force: false, signal: never() })).rejects.toMatchObject({
            code: 'RESTORE_TARGET_NOT_EMPTY',
          });
      } finally {
        await s.close();
      }
    }
    expect((await openRestore(store, record, target('left')).inspect(never())).hint).toContain(
      'DROP DATABASE `bank_r_left`',
    );
    // The live source needs more than force.
    const live = openRestore(store, record, { inPlace: true });
    await expect(live.restore({ force: true, signal: never() })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_IS_SOURCE',
    });
    await live.close();
  });

  it('per-target credentials: default to the member’s, own user/password when given, refused credentials caught by inspect', async () => {
    const record = await backup(store, member({}), 'bk-cred');
    const pw = server.passwordUser;
    const own = openRestore(store, record, { suffix: 'cred', user: pw.user, password: pw.password });
    try {
      expect(JSON.stringify(own.target)).not.toContain(pw.password);
      const restored = await own.restore({ force: false, signal: never() });
      expect(restored.connection).toMatchObject({ user: pw.user, password: pw.password });
    } finally {
      await own.close();
    }
    process.env.STILLPOINT_TEST_MARIA_PW = pw.password;
    const viaEnv = openRestore(store, record, {
      suffix: 'credenv',
      user: pw.user,
      passwordEnv: 'STILLPOINT_TEST_MARIA_PW',
    });
    expect((await viaEnv.inspect(never())).checks.every((c) => c.ok)).toBe(true);
    await viaEnv.close();
    const wrong = openRestore(store, record, { suffix: 'credbad', user: pw.user, password: 'wrong' });
    try {
      const inspection = await wrong.inspect(never());
      expect(inspection.checks.find((c) => c.name === 'reachable')?.ok).toBe(true);
      expect(inspection.checks.find((c) => c.name === 'credentials')).toMatchObject({ ok: false });
      await expect(wrong.restore({ force: true, signal: never() })).rejects.toMatchObject({
        code: 'RESTORE_TARGET_UNUSABLE',
      });
    } finally {
      await wrong.close();
    }
    const unreachable = openRestore(store, record, { port: 1, suffix: 'x' });
    const inspection = await unreachable.inspect(never());
    expect(inspection.checks.find((c) => c.name === 'reachable')).toMatchObject({ ok: false });
    expect(inspection.checks.find((c) => c.name === 'reachable')?.hint).toContain('running');
    await unreachable.close();
  });

  it('restores an artifact written by the previous dump format (stillpoint-mariadb-dump/1)', async () => {
    const prefix = 'bk-v1/maria/';
    const rows = await store.put(
      `${prefix}legacy/t.sql`,
      "INSERT INTO `t` VALUES (1,'a\\nb',NULL),(2,'c',X'00ff');\n",
    );
    const manifest = {
      format: 'stillpoint-mariadb-dump/1',
      binlogFile: 'binlog.000001',
      binlogPosition: 4,
      gtid: '',
      databases: [
        {
          name: 'legacy',
          createDatabase: 'CREATE DATABASE `legacy` /*!40100 DEFAULT CHARACTER SET utf8mb4 */',
          tables: [
            {
              name: 't',
              create: 'CREATE TABLE `t` (`id` int PRIMARY KEY, `s` text, `b` blob)',
              rows: 2,
              key: rows.key,
            },
          ],
        },
      ],
    };
    const ref = await store.put(`${prefix}manifest.json`, JSON.stringify(manifest));
    const record: MemberRecord = {
      backupId: 'bk-v1',
      member: member({}),
      handle: { kind: 'snapshot', snapshotId: 'binlog.000001:4' },
      artifacts: [rows, ref],
    };
    const s = openRestore(store, record);
    try {
      const restored = await s.restore({ force: false, signal: never() });
      const got = (await server.query(
        `SELECT id, s, HEX(b) AS b FROM \`${restored.namespaces!.legacy}\`.t ORDER BY id`,
      )) as unknown[];
      expect(got).toEqual([
        { id: 1, s: 'a\nb', b: null },
        { id: 2, s: 'c', b: '00FF' },
      ]);
    } finally {
      await s.close();
    }
  });

  it('close() leaves no connection open, whatever phase the session reached; bad credentials are flagged', async () => {
    const baseline = await settledConnections(server);
    const prepared = openBackup(store, member({ jobs: 3 }), 'bk-close-1');
    await prepared.prepare(never());
    expect(await clientConnections(server)).toBe(baseline + 3);
    await prepared.close();
    await prepared.close();
    // The server drops a closed connection's thread a moment after the client quits; a leak stays forever.
    await expect.poll(() => clientConnections(server), { timeout: 5_000 }).toBe(baseline);

    const captured = openBackup(store, member({ jobs: 3 }), 'bk-close-2');
    await captured.prepare(never());
    await captured.capture(never());
    await captured.discard();
    await captured.capture(never());
    await captured.close();
    await expect.poll(() => clientConnections(server), { timeout: 5_000 }).toBe(baseline);
    await expect(captured.capture(never())).rejects.toMatchObject({ code: 'SESSION_CLOSED' });

    const bad: MemberSpec = {
      ...member({}),
      connection: { ...server.connection(), user: 'stillpoint', password: 'wrong' },
    };
    const badSession = openBackup(store, bad, 'x');
    expect((await badSession.preflight(never())).find((c) => c.name === 'connect')?.ok).toBe(false);
    await expect(badSession.capture(never())).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
    const clock = await badSession.measureClock!(never()).catch((e: unknown) => e);
    expect(clock).toMatchObject({ code: 'CONNECT_FAILED' });
    await badSession.close();
    await expect.poll(() => clientConnections(server), { timeout: 5_000 }).toBe(baseline);
  });
});
