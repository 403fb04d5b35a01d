/**
 * Consensus Commit end to end, as one test body run against several groups (two SQLite files; PostgreSQL
 * + MariaDB). Accounts live in bank_a and bank_b, which map to different storages, so every transfer is a
 * multi-storage transaction.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  GroupConfig,
  StorageGroup,
  TableRef,
  TableSchema,
  Transaction,
  TransactionManager,
} from '../../src/txn/contract.ts';
import { createTransactionManager } from '../../src/txn/consensus-commit.ts';
import { openGroup } from '../../src/txn/group.ts';
import { readCoordinatorStates, sweep } from '../../src/txn/recovery.ts';
import { codeOf } from '../support/error-code.ts';

const account = (namespace: string): TableSchema => ({
  namespace,
  table: 'accounts',
  partitionKey: ['id'],
  clusteringKey: [],
  columns: { id: 'TEXT', balance: 'BIGINT', note: 'TEXT' },
});
export const A: TableRef = { namespace: 'bank_a', table: 'accounts' };
export const B: TableRef = { namespace: 'bank_b', table: 'accounts' };
const LEDGER: TableSchema = {
  namespace: 'bank_a',
  table: 'ledger',
  partitionKey: ['day'],
  clusteringKey: ['seq'],
  columns: { day: 'TEXT', seq: 'INT', amount: 'BIGINT' },
};

const CHILD = fileURLToPath(new URL('./fixtures/txn-child.ts', import.meta.url));

/** Runs the child fixture; resolves when it prints a line starting with `until` (and SIGKILLs it then if asked). */
async function runChild(args: string[], until: string, kill: boolean): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').some((l) => l.startsWith(until))) resolve();
      });
      void exited.then((code) => reject(new Error(`child exited ${code} before "${until}": ${err}`)));
    });
    if (kill) child.kill('SIGKILL');
  } finally {
    if (kill || child.exitCode === null) await exited;
  }
  return out;
}

class Crash extends Error {}
const crashAt = (point: 'afterPrepare' | 'afterCommitState' | 'midCommitRecords') => ({
  [point]: () => {
    throw new Crash(point);
  },
});

async function balances(
  tm: TransactionManager,
  ids: string[],
): Promise<{ a: (number | undefined)[]; b: (number | undefined)[] }> {
  return tm.run(async (tx) => ({
    a: await Promise.all(ids.map(async (id) => (await tx.get(A, { id }))?.balance as number | undefined)),
    b: await Promise.all(ids.map(async (id) => (await tx.get(B, { id }))?.balance as number | undefined)),
  }));
}

async function transfer(tx: Transaction, from: string, to: string, amount: number): Promise<void> {
  const a = await tx.get(A, { id: from });
  const b = await tx.get(B, { id: to });
  tx.put(A, { id: from }, { balance: (a?.balance as number) - amount });
  tx.put(B, { id: to }, { balance: (b?.balance as number) + amount });
}

export function transactionSuite(
  label: string,
  setup: () => Promise<{ config: GroupConfig; cleanup: () => Promise<void> }>,
): void {
  describe(`consensus commit: ${label}`, () => {
    let group: StorageGroup;
    let config: GroupConfig;
    let tm: TransactionManager;
    let cleanup: () => Promise<void>;
    let n = 0;
    let ids: string[] = [];

    beforeAll(async () => {
      const s = await setup();
      cleanup = s.cleanup;
      config = s.config;
      group = await openGroup(s.config);
      await group.createCoordinatorTable();
      await group.createTable(account('bank_a'));
      await group.createTable(account('bank_b'));
      await group.createTable(LEDGER);
      tm = createTransactionManager({ group });
    });
    afterAll(async () => {
      await tm?.close();
      await group?.close();
      await cleanup?.();
    });
    // Fresh accounts per test (ids are unique), 100 in each namespace.
    beforeEach(async () => {
      n += 1;
      ids = [`x${n}`, `y${n}`];
      await tm.run((tx) => {
        for (const id of ids) {
          tx.put(A, { id }, { balance: 100 });
          tx.put(B, { id }, { balance: 100 });
        }
        return Promise.resolve();
      });
    });

    it('commits a transfer across two storages and clears the before image', async () => {
      await tm.run((tx) => transfer(tx, ids[0]!, ids[1]!, 30));
      expect(await balances(tm, ids)).toEqual({ a: [70, 100], b: [100, 130] });
      const raw = await group.storageFor('bank_a').get(A, { id: ids[0]! });
      expect(raw).toMatchObject({ tx_state: 3, tx_version: 2, before_balance: null, before_tx_id: null });
      expect((await readCoordinatorStates(group)).get(raw?.tx_id as string)).toBe(3);
    });

    it('reads its own writes, sees one snapshot, and writes nothing on abort', async () => {
      const tx = await tm.begin();
      expect((await tx.get(A, { id: ids[0]! }))?.balance).toBe(100);
      await tm.run((other) => Promise.resolve(other.put(A, { id: ids[0]! }, { balance: 5 })));
      expect((await tx.get(A, { id: ids[0]! }))?.balance).toBe(100);
      tx.put(A, { id: ids[0]! }, { balance: 1 });
      tx.delete(B, { id: ids[0]! });
      expect(await tx.get(A, { id: ids[0]! })).toMatchObject({ id: ids[0], balance: 1 });
      expect(await tx.get(B, { id: ids[0]! })).toBeUndefined();
      await tx.abort();
      expect(await balances(tm, ids)).toEqual({ a: [5, 100], b: [100, 100] });
    });

    it('inserts, scans with read-your-writes, and deletes', async () => {
      const day = `d${n}`;
      await tm.run((tx) => {
        tx.put(LEDGER, { day, seq: 2 }, { amount: 20 });
        tx.put(LEDGER, { day, seq: 1 }, { amount: 10 });
        return Promise.resolve();
      });
      await tm.run(async (tx) => {
        tx.put(LEDGER, { day, seq: 3 }, { amount: 30 });
        tx.delete(LEDGER, { day, seq: 1 });
        const rows = await tx.scan(LEDGER, { day });
        expect(rows.map((r) => r.seq).sort()).toEqual([2, 3]);
      });
      const rows = await tm.run((tx) => tx.scan(LEDGER, { day }));
      expect(rows.map((r) => [r.seq, r.amount])).toEqual([
        [2, 20],
        [3, 30],
      ]);
      expect(await group.storageFor('bank_a').get(LEDGER, { day, seq: 1 })).toBeUndefined();
    });

    it('lets exactly one of several conflicting transactions commit; the others get TX_CONFLICT', async () => {
      const txs = await Promise.all(Array.from({ length: 4 }, () => tm.begin()));
      await Promise.all(txs.map((tx) => transfer(tx, ids[0]!, ids[1]!, 10)));
      const codes = await Promise.all(txs.map((tx) => codeOf(tx.commit())));
      expect(codes.filter((c) => c === undefined)).toHaveLength(1);
      expect(codes.filter((c) => c === 'TX_CONFLICT')).toHaveLength(3);
      expect(await balances(tm, ids)).toEqual({ a: [90, 100], b: [100, 110] });
      const report = await sweep(group, { expiryMs: 0 });
      expect(report.rolledBack + report.abortedExpired + report.unresolved).toBe(0);
    });

    it('run() retries conflicts until every concurrent transfer lands', async () => {
      await Promise.all(
        Array.from({ length: 6 }, () => tm.run((tx) => transfer(tx, ids[0]!, ids[1]!, 1), { retries: 50 })),
      );
      expect(await balances(tm, ids)).toEqual({ a: [94, 100], b: [100, 106] });
    });

    it('serializable rejects write skew that snapshot isolation allows', async () => {
      const skew = async (isolation: 'snapshot' | 'serializable') => {
        const [t1, t2] = [await tm.begin({ isolation }), await tm.begin({ isolation })];
        for (const tx of [t1, t2]) {
          await tx.get(A, { id: ids[0]! });
          await tx.get(A, { id: ids[1]! });
        }
        t1.put(A, { id: ids[0]! }, { note: 'skew' });
        t2.put(A, { id: ids[1]! }, { note: 'skew' });
        return Promise.all([codeOf(t1.commit()), codeOf(t2.commit())]);
      };
      expect(await skew('snapshot')).toEqual([undefined, undefined]);
      const codes = await skew('serializable');
      expect(codes.filter((c) => c === 'TX_CONFLICT').length).toBeGreaterThanOrEqual(1);
    });

    describe.each(['afterPrepare', 'afterCommitState', 'midCommitRecords'] as const)(
      'a crash %s',
      (point) => {
        const committed = point !== 'afterPrepare';
        const expected = committed ? { a: [60, 100], b: [100, 140] } : { a: [100, 100], b: [100, 100] };

        async function crash(): Promise<void> {
          const crashing = createTransactionManager({ group, failpoints: crashAt(point) });
          await expect(crashing.run((tx) => transfer(tx, ids[0]!, ids[1]!, 40))).rejects.toBeInstanceOf(
            Crash,
          );
        }

        it('is resolved all-or-nothing by lazy recovery on read', async () => {
          await crash();
          let clock = Date.now();
          const reader = createTransactionManager({ group, now: () => clock });
          if (!committed) {
            // Undecided and not expired: the reader must not guess.
            expect(await codeOf(reader.run((tx) => tx.get(A, { id: ids[0]! }), { retries: 0 }))).toBe(
              'TX_UNKNOWN_STATE_RETRY',
            );
            clock += 16_000;
          }
          expect(await balances(reader, ids)).toEqual(expected);
          expect((await sweep(group, { expiryMs: 0 })).unresolved).toBe(0);
        });

        it('is resolved all-or-nothing by the sweep', async () => {
          await crash();
          // The crash really left the records unfinished (2 pending; 1 when it hit between the two commits).
          const raw = await Promise.all([
            group.storageFor('bank_a').get(A, { id: ids[0]! }),
            group.storageFor('bank_b').get(B, { id: ids[1]! }),
          ]);
          expect(raw.filter((r) => r?.tx_state === 1)).toHaveLength(point === 'midCommitRecords' ? 1 : 2);
          const report = await sweep(group, { expiryMs: 0 });
          expect(report.unresolved).toBe(0);
          if (committed)
            expect(report.rolledForward).toBeGreaterThanOrEqual(point === 'midCommitRecords' ? 1 : 2);
          else expect([report.abortedExpired, report.rolledBack]).toEqual([1, 1]);
          expect(await balances(tm, ids)).toEqual(expected);
          expect(await sweep(group, { expiryMs: 0 })).toMatchObject({
            rolledForward: 0,
            rolledBack: 0,
            abortedExpired: 0,
          });
        });
      },
    );

    it.each(['afterPrepare', 'afterCommitState', 'midCommitRecords'] as const)(
      'a node process SIGKILLed %s is recovered all-or-nothing',
      async (point) => {
        await runChild([JSON.stringify(config), 'crash', point, ids[0]!, ids[1]!], `AT ${point}`, true);
        const report = await sweep(group, { expiryMs: 0 });
        expect(report.unresolved).toBe(0);
        const expected =
          point === 'afterPrepare' ? { a: [100, 100], b: [100, 100] } : { a: [60, 100], b: [100, 140] };
        expect(await balances(tm, ids)).toEqual(expected);
      },
    );

    it('several processes transfer concurrently on the same databases and conserve the total', async () => {
      await Promise.all(
        [0, 1].map(() =>
          runChild([JSON.stringify(config), 'transfers', '15', ids[0]!, ids[1]!], 'DONE', false),
        ),
      );
      expect(await balances(tm, ids)).toEqual({ a: [70, 100], b: [100, 130] });
    });

    it('a committer loses to a reader that aborted it as expired: TX_CONFLICT, nothing applied', async () => {
      const reader = createTransactionManager({ group, now: () => Date.now() + 60_000 });
      const slow = createTransactionManager({
        group,
        failpoints: {
          // While the committer stalls after prepare, a reader (whose clock says the expiry passed) aborts it.
          afterPrepare: async () => {
            expect((await balances(reader, ids)).a[0]).toBe(100);
          },
        },
      });
      expect(await codeOf(slow.run((tx) => transfer(tx, ids[0]!, ids[1]!, 40), { retries: 0 }))).toBe(
        'TX_CONFLICT',
      );
      expect(await balances(tm, ids)).toEqual({ a: [100, 100], b: [100, 100] });
      expect((await sweep(group, { expiryMs: 0 })).unresolved).toBe(0);
    });

    it('updates and rolls back a "deemed committed" record (all tx_* NULL) exactly', async () => {
      const key = { id: `imported${n}` };
      await group
        .storageFor('bank_a')
        .mutate([{ kind: 'put', table: A, key, values: { balance: 7 }, condition: { kind: 'ifNotExists' } }]);
      expect((await tm.run((tx) => tx.get(A, key)))?.balance).toBe(7);
      const crashing = createTransactionManager({ group, failpoints: crashAt('afterPrepare') });
      await expect(
        crashing.run((tx) => Promise.resolve(tx.put(A, key, { balance: 8 }))),
      ).rejects.toBeInstanceOf(Crash);
      expect(await group.storageFor('bank_a').get(A, key)).toMatchObject({
        balance: 8,
        tx_state: 1,
        before_balance: 7,
        before_tx_version: 0,
      });
      await sweep(group, { expiryMs: 0 });
      expect(await group.storageFor('bank_a').get(A, key)).toMatchObject({
        balance: 7,
        tx_id: null,
        tx_state: null,
        tx_version: null,
        before_balance: null,
      });
      await tm.run((tx) => Promise.resolve(tx.put(A, key, { balance: 9 })));
      expect(await group.storageFor('bank_a').get(A, key)).toMatchObject({
        balance: 9,
        tx_state: 3,
        tx_version: 1,
      });
    });

    it('deleting an absent record conflicts with a concurrent insert and leaves no tombstone', async () => {
      const key = { id: `ghost${n}` };
      const deleter = await tm.begin();
      expect(await deleter.get(A, key)).toBeUndefined();
      deleter.delete(A, key);
      const inserter = await tm.begin();
      inserter.put(A, key, { balance: 1 });
      await inserter.commit();
      expect(await codeOf(deleter.commit())).toBe('TX_CONFLICT');
      await tm.run((tx) => Promise.resolve(tx.delete(A, { id: `ghost-none${n}` })));
      expect(await group.storageFor('bank_a').get(A, { id: `ghost-none${n}` })).toBeUndefined();
      expect((await tm.run((tx) => tx.get(A, key)))?.balance).toBe(1);
    });

    it('a sweep within the expiry leaves undecided records alone and reports them', async () => {
      const crashing = createTransactionManager({ group, failpoints: crashAt('afterPrepare') });
      await expect(crashing.run((tx) => transfer(tx, ids[0]!, ids[1]!, 40))).rejects.toBeInstanceOf(Crash);
      const report = await sweep(group, { expiryMs: 60_000 });
      expect(report.unresolved).toBe(2);
      expect(await sweep(group, { expiryMs: 0 })).toMatchObject({
        abortedExpired: 1,
        rolledBack: 1,
        unresolved: 0,
      });
    });
  });
}
