import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createStorage } from '../../src/txn/storages/index.ts';
import { openSqliteStorage } from '../../src/txn/storages/sqlite/sqlite-storage.ts';
import { codeOf, ITEMS, storageContractSuite } from './storage-contract.ts';

storageContractSuite('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stillpoint-txn-'));
  const storage = await createStorage('lite', { kind: 'sqlite', path: join(dir, 'db.sqlite') });
  return { storage, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe("sqlite storage under another connection's write lock", () => {
  it('waits asynchronously (the event loop keeps running), writes once the lock is gone, and gives up after busyTimeoutMs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stillpoint-txn-lock-'));
    const path = join(dir, 'db.sqlite');
    const storage = await openSqliteStorage('lite', { path, busyTimeoutMs: 1_500 });
    const other = new Database(path);
    try {
      await storage.createTable(ITEMS);
      const table = { namespace: ITEMS.namespace, table: ITEMS.table };
      const put = (pk: string) =>
        storage.mutate([{ kind: 'put', table, key: { pk, ck: 1 }, values: { s: pk } }]);

      other.exec('BEGIN IMMEDIATE'); // another process's writer holds the lock
      let ticks = 0;
      const timer = setInterval(() => (ticks += 1), 10);
      const waiting = put('after-release');
      await new Promise((resolve) => setTimeout(resolve, 300));
      other.exec('COMMIT');
      await waiting;
      clearInterval(timer);
      // A synchronous busy wait would have frozen the timer for the whole 300 ms.
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(await storage.get(table, { pk: 'after-release', ck: 1 })).toMatchObject({ s: 'after-release' });

      other.exec('BEGIN IMMEDIATE');
      const started = Date.now();
      expect(await codeOf(put('never'))).toBe('TX_CONFLICT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
      other.exec('ROLLBACK');
    } finally {
      other.close();
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
