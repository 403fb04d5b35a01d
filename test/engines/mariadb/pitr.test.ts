import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { startLocalMariaDb, type LocalMariaDb } from '../../../src/lab/local-servers/mariadb-server.ts';
import { stopRestoredMariaDb } from '../../../src/engines/mariadb/pitr/restore.ts';
import type { MemberSpec } from '../../../src/engines/contract.ts';
import {
  backup,
  clientConnections,
  settledConnections,
  never,
  openBackup,
  openRestore,
  tempDirStore,
  type Store,
} from './support.ts';

let server: LocalMariaDb;
let store: Store;
let scratch: string;
const restoredDirs: string[] = [];

async function contents(port: number): Promise<string> {
  const c = await mysql.createConnection({
    host: '127.0.0.1',
    port,
    user: 'root',
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  try {
    const [a] = await c.query('SELECT id, balance FROM bank.accounts ORDER BY id');
    const [s] = await c.query('SELECT tx_id FROM coordinator.state ORDER BY tx_id');
    return JSON.stringify({ a, s });
  } finally {
    await c.end();
  }
}

async function transfers(n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await server.query(
      `START TRANSACTION; UPDATE bank.accounts SET balance = balance - 5 WHERE id = ${i % 30};
       UPDATE bank.accounts SET balance = balance + 5 WHERE id = ${(i * 7 + 2) % 30};
       INSERT INTO coordinator.state VALUES ('${tag}-${i}'); COMMIT;`,
    );
  }
}

function member(): MemberSpec {
  return {
    name: 'mpitr',
    engine: 'mariadb',
    connection: server.connection(),
    namespaces: ['bank', 'coordinator'],
    options: { method: 'pitr', archiveTimeoutMs: 60_000 },
  };
}

beforeAll(async () => {
  server = await startLocalMariaDb();
  store = await tempDirStore();
  scratch = await mkdtemp(join(tmpdir(), 'stillpoint-mpitr-'));
  // The restored server runs as the mysql OS user when we are root: it must reach the target dir.
  await chmod(scratch, 0o755);
  await server.query(
    `CREATE DATABASE bank; CREATE DATABASE coordinator;
     CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB;
     CREATE TABLE coordinator.state (tx_id VARCHAR(64) PRIMARY KEY) ENGINE=InnoDB;
     INSERT INTO bank.accounts SELECT seq, 500 FROM mysql.seq_0_to_29;`,
  );
});

afterAll(async () => {
  for (const dir of restoredDirs) {
    await stopRestoredMariaDb(dir);
    await rm(dir, { recursive: true, force: true });
  }
  await rm(scratch, { recursive: true, force: true });
  await server?.destroy();
  await store?.destroy();
});

describe('mariadb pitr engine', () => {
  it('preflight flags a binlog format that cannot replay exactly, with a hint', async () => {
    await server.query(`SET GLOBAL binlog_format = 'STATEMENT'`);
    const session = openBackup(store, member(), 'bk-neg');
    try {
      const format = (await session.preflight(never())).find((c) => c.name === 'binlog_format');
      expect(format?.ok).toBe(false);
      expect(format?.hint).toContain('ROW');
    } finally {
      await server.query(`SET GLOBAL binlog_format = 'ROW'`);
    }
    expect((await session.preflight(never())).filter((c) => !c.ok)).toEqual([]);
    await session.close();
  });

  it('restores to exactly the captured binlog position; markers make a finished restore need force', async () => {
    const spec = member();
    // A first backup takes the base backup; the second replays binlogs written after it.
    const record = await backup(store, spec, 'bk-mpitr-0001', () => transfers(25, 'after'));
    expect(record.handle).toMatchObject({ kind: 'log-position' });
    await transfers(25, 'before');
    await server.query('FLUSH BINARY LOGS');
    await transfers(25, 'before2');
    const atCapture = await contents(server.port);
    const second = await backup(store, spec, 'bk-mpitr-0002', () => transfers(25, 'after2'));
    expect(second.artifacts.filter((a) => a.key.includes('/binlog/')).length).toBeGreaterThanOrEqual(2);
    for (const ref of second.artifacts) expect(await store.verify(ref)).toBe(true);
    expect(await contents(server.port)).not.toBe(atCapture);

    const dir = join(scratch, 'restore');
    restoredDirs.push(dir);
    const session = openRestore(store, second, { dir });
    try {
      const plan = await session.plan();
      expect(plan.map((s) => s.detail ?? '').join('\n')).toContain(
        `--stop-position=${(second.handle as { position: number }).position}`,
      );
      expect(await session.inspect(never())).toMatchObject({ state: 'absent' });
      const restored = await session.restore({ force: false, signal: never() });
      expect(await contents((restored.connection as { port: number }).port)).toBe(atCapture);
      expect(await session.inspect(never())).toMatchObject({ state: 'in-progress' });
      await session.markFinished();
      const inspection = await session.inspect(never());
      expect(inspection.state).toBe('restored');
      await expect(session.restore({ force: false, signal: never() })).rejects.toMatchObject({
        code: 'RESTORE_TARGET_NOT_EMPTY',
      });
    } finally {
      await session.close();
    }
  }, 240_000);

  it('inspect reports a leftover of another restore with how to remove it, and a foreign directory', async () => {
    const record = await backup(store, member(), 'bk-mpitr-0003');
    const left = join(scratch, 'left');
    await mkdir(left);
    await writeFile(
      join(left, 'stillpoint-restore.json'),
      JSON.stringify({ backupId: 'bk-older', member: 'mpitr', state: 'in-progress' }),
    );
    const foreign = join(scratch, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'something'), 'x');
    const a = openRestore(store, record, { dir: left });
    const b = openRestore(store, record, { dir: foreign });
    try {
      const leftover = await a.inspect(never());
      expect(leftover.state).toBe('foreign');
      expect(leftover.hint).toContain('leftover of an unfinished restore of backup bk-older');
      expect(leftover.hint).toContain(`rm -rf ${left}`);
      await expect(a.restore({ force: false, signal: never() })).rejects.toMatchObject({
        code: 'RESTORE_TARGET_NOT_EMPTY',
      });
      expect(await b.inspect(never())).toMatchObject({ state: 'foreign' });
      expect(
        await openRestore(store, record, { dir: join(scratch, 'nope', 'x') }).inspect(never()),
      ).toMatchObject({ state: 'absent' });
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);

  it('close() during a base backup kills mariabackup and leaves no connection', async () => {
    const baseline = await settledConnections(server);
    // A table write-locked by another session holds mariabackup at BACKUP STAGE START, so close()
    // lands while it is running however fast the machine is.
    const locker = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
    await locker.query('LOCK TABLES bank.accounts WRITE');
    const fresh: MemberSpec = { ...member(), name: 'mpitr-close' };
    const session = openBackup(store, fresh, 'bk-close');
    try {
      // The outcome is taken at once: prepare rejects while close() is still running.
      const prepared = session.prepare(never()).then(
        () => 'resolved',
        (error: unknown) => error,
      );
      await expect
        .poll(
          async () =>
            (await server.query(
              "SELECT count(*) AS n FROM information_schema.processlist WHERE info LIKE 'BACKUP STAGE%'",
            )) as Array<{ n: number }>,
          { timeout: 20_000 },
        )
        .toEqual([{ n: 1 }]);
      await session.close();
      expect(await prepared).toMatchObject({ code: expect.stringMatching(/ABORTED|SESSION_CLOSED/) });
    } finally {
      await locker.end();
    }
    // mariabackup was killed; the server notices its dropped connections a moment later.
    await expect.poll(() => clientConnections(server), { timeout: 5_000 }).toBe(baseline);
    expect((await store.list('shared/mpitr-close/base/')).filter((k) => k.endsWith('info.json'))).toEqual([]);
  }, 60_000);
});
