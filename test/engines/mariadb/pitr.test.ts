import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { startLocalMariaDb, type LocalMariaDb } from '../../../src/local-servers/mariadb-server.ts';
import { createMariaDbEngine } from '../../../src/engines/mariadb/mariadb-engine.ts';
import { stopRestoredMariaDb } from '../../../src/engines/mariadb/mariadb-pitr-restore.ts';
import type { MemberRecord, MemberSpec } from '../../../src/engines/contract.ts';
import { finishWindow, phaseContext, restoreContext, tempDirStore } from '../postgres/test-support.ts';

type Store = Awaited<ReturnType<typeof tempDirStore>>;

let server: LocalMariaDb;
let store: Store;
const restoredDirs: string[] = [];
const engine = createMariaDbEngine();

async function contents(port: number): Promise<string> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', supportBigNumbers: true, bigNumberStrings: true });
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
  return { name: 'mpitr', engine: 'mariadb', connection: server.connection(), namespaces: ['bank', 'coordinator'], options: { method: 'pitr', archiveTimeoutMs: 60_000 } };
}

beforeAll(async () => {
  server = await startLocalMariaDb();
  store = await tempDirStore();
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
  await server?.destroy();
  await store?.destroy();
});

describe('mariadb pitr engine', () => {
  it('preflight flags a binlog format that cannot replay exactly, with a hint', async () => {
    await server.query(`SET GLOBAL binlog_format = 'STATEMENT'`);
    try {
      const checks = await engine.preflight(phaseContext(store, member(), 'bk-neg'));
      const format = checks.find((c) => c.name === 'binlog_format');
      expect(format?.ok).toBe(false);
      expect(format?.hint).toContain('ROW');
    } finally {
      await server.query(`SET GLOBAL binlog_format = 'ROW'`);
    }
    const ok = await engine.preflight(phaseContext(store, member(), 'bk-pos'));
    expect(ok.filter((c) => !c.ok)).toEqual([]);
  });

  it('restores to exactly the captured binlog position, not later writes', async () => {
    const spec = member();
    const backupId = 'bk-mpitr-0001';
    const ctx = phaseContext(store, spec, backupId);
    await engine.prepare(ctx);
    expect((await store.list('shared/mpitr/base/')).some((k) => k.endsWith('backup.xbstream'))).toBe(true);
    await transfers(25, 'before');
    await server.query('FLUSH BINARY LOGS');
    await transfers(25, 'before2');
    const atCapture = await contents(server.port);
    const capture = await engine.capture(ctx);
    expect(capture.handle).toMatchObject({ kind: 'log-position' });
    await transfers(25, 'after');
    const finished = await capture.finish(ctx, finishWindow);
    await engine.horizon(ctx, finished.handle);
    expect(finished.artifacts.filter((a) => a.key.includes('/binlog/')).length).toBeGreaterThanOrEqual(2);
    for (const ref of finished.artifacts) expect(await store.verify(ref)).toBe(true);
    expect(await contents(server.port)).not.toBe(atCapture);

    const record: MemberRecord = { backupId, member: spec, handle: finished.handle, artifacts: finished.artifacts };
    const target = engine.parseRestoreTarget(record, undefined);
    restoredDirs.push(target.dir as string);
    const plan = await engine.planRestore(restoreContext(store, record, target));
    expect(plan.map((s) => s.detail ?? '').join('\n')).toContain(`--stop-position=${(finished.handle as { position: number }).position}`);
    const restored = await engine.restore(restoreContext(store, record, target));
    expect(await contents((restored.connection as { port: number }).port)).toBe(atCapture);
    await expect(engine.restore(restoreContext(store, record, target))).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
  });
});
