/**
 * The storage contract, as one test body run against every Storage implementation (one test file per
 * store, so each file starts its own server once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionError } from '../../src/errors.ts';
import type { Storage, TableSchema } from '../../src/txn/contract.ts';
import { COORDINATOR_SCHEMA } from '../../src/txn/schema.ts';
import { codeOf } from '../support/error-code.ts';

export { codeOf };

export const ITEMS: TableSchema = {
  namespace: 'contract_ns',
  table: 'items',
  partitionKey: ['pk'],
  clusteringKey: ['ck'],
  columns: {
    pk: 'TEXT',
    ck: 'INT',
    s: 'TEXT',
    n: 'BIGINT',
    b: 'BOOLEAN',
    d: 'DOUBLE',
    blob: 'BLOB',
    i: 'INT',
  },
};
const T = { namespace: ITEMS.namespace, table: ITEMS.table };

export function storageContractSuite(
  label: string,
  open: () => Promise<{ storage: Storage; cleanup: () => Promise<void> }>,
): void {
  describe(`storage contract: ${label}`, () => {
    let storage: Storage;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ storage, cleanup } = await open());
      await storage.createTable(ITEMS);
      await storage.createTable(COORDINATOR_SCHEMA);
    });
    afterAll(async () => {
      await storage?.close();
      await cleanup?.();
    });

    it('lists the tables it created, with user columns and keys only', async () => {
      const tables = await storage.listTables('contract_ns');
      expect(tables).toHaveLength(1);
      expect(tables[0]).toMatchObject({
        partitionKey: ['pk'],
        clusteringKey: ['ck'],
        columns: ITEMS.columns,
      });
      expect(tables[0]?.transactional).toBeUndefined();
      const coordinator = await storage.listTables('coordinator');
      expect(coordinator[0]).toMatchObject({ table: 'state', partitionKey: ['tx_id'], transactional: false });
      expect(await storage.listTables('absent_ns')).toEqual([]);
    });

    it('round-trips every column type with one mapping', async () => {
      const blob = new Uint8Array([0, 1, 2, 255]);
      // Cosmos DB keeps JSON numbers: BIGINT is limited to ±2^53 there (as in ScalarDB).
      const bigN = storage.capabilities.bigintSafeOnly === true ? Number.MAX_SAFE_INTEGER : 2n ** 60n;
      await storage.mutate([
        {
          kind: 'put',
          table: T,
          key: { pk: 'types', ck: 1 },
          values: { s: 'héllo', n: 1_763_780_000_123, b: true, d: 1.5, blob, i: -7 },
          condition: { kind: 'ifNotExists' },
        },
        { kind: 'put', table: T, key: { pk: 'types', ck: 2 }, values: { n: bigN, b: false } },
      ]);
      const row = await storage.get(T, { pk: 'types', ck: 1 });
      expect(row).toMatchObject({
        pk: 'types',
        ck: 1,
        s: 'héllo',
        n: 1_763_780_000_123,
        b: true,
        d: 1.5,
        i: -7,
        tx_id: null,
        before_s: null,
      });
      expect(row?.blob).toEqual(blob);
      expect(row?.blob).toBeInstanceOf(Uint8Array);
      const big = await storage.get(T, { pk: 'types', ck: 2 });
      expect(big).toMatchObject({ n: bigN, b: false, s: null });
      expect(await storage.get(T, { pk: 'types', ck: 3 })).toBeUndefined();
    });

    it('put-if-not-exists fails on an existing record; an unconditional put upserts only the given columns', async () => {
      const key = { pk: 'ine', ck: 1 };
      await storage.mutate([
        { kind: 'put', table: T, key, values: { s: 'a', i: 1 }, condition: { kind: 'ifNotExists' } },
      ]);
      expect(
        await codeOf(
          storage.mutate([
            { kind: 'put', table: T, key, values: { s: 'b' }, condition: { kind: 'ifNotExists' } },
          ]),
        ),
      ).toBe('TX_CONDITION_FAILED');
      await storage.mutate([{ kind: 'put', table: T, key, values: { s: 'c' } }]);
      expect(await storage.get(T, key)).toMatchObject({ s: 'c', i: 1 });
    });

    it('put-if conditions on tx_id / tx_state hold or fail as specified', async () => {
      const key = { pk: 'cond', ck: 1 };
      const put = (
        values: Record<string, unknown>,
        condition: Parameters<Storage['mutate']>[0][number]['condition'],
      ) =>
        storage.mutate([
          { kind: 'put', table: T, key, values: values as never, ...(condition ? { condition } : {}) },
        ]);
      expect(await codeOf(put({ s: 'x' }, { kind: 'ifExists' }))).toBe('TX_CONDITION_FAILED');
      expect(await codeOf(put({ s: 'x' }, { kind: 'ifTxIdIsNull' }))).toBe('TX_CONDITION_FAILED');
      await put({ s: 'v0' }, { kind: 'ifNotExists' });
      expect(await codeOf(put({ s: 'v1' }, { kind: 'ifExists' }))).toBeUndefined();
      await put({ s: 'v1', tx_id: 'A', tx_state: 1 }, { kind: 'ifTxIdIsNull' });
      expect(await codeOf(put({ s: 'v2' }, { kind: 'ifTxIdIsNull' }))).toBe('TX_CONDITION_FAILED');
      expect(await codeOf(put({ s: 'v2' }, { kind: 'ifTxId', txId: 'B' }))).toBe('TX_CONDITION_FAILED');
      expect(await codeOf(put({ s: 'v2' }, { kind: 'ifTxIdAndState', txId: 'A', state: 3 }))).toBe(
        'TX_CONDITION_FAILED',
      );
      await put({ s: 'v2', tx_state: 3 }, { kind: 'ifTxIdAndState', txId: 'A', state: 1 });
      // Same values again: the condition holds, so zero *changed* rows must not read as a failure.
      await put({ s: 'v2', tx_state: 3 }, { kind: 'ifTxId', txId: 'A' });
      expect(await storage.get(T, key)).toMatchObject({ s: 'v2', tx_id: 'A', tx_state: 3 });
    });

    it('delete-if conditions hold or fail; an unconditional delete of nothing is fine', async () => {
      const key = { pk: 'del', ck: 1 };
      await storage.mutate([
        {
          kind: 'put',
          table: T,
          key,
          values: { tx_id: 'D', tx_state: 2 },
          condition: { kind: 'ifNotExists' },
        },
      ]);
      expect(
        await codeOf(
          storage.mutate([
            { kind: 'delete', table: T, key, condition: { kind: 'ifTxIdAndState', txId: 'D', state: 1 } },
          ]),
        ),
      ).toBe('TX_CONDITION_FAILED');
      await storage.mutate([
        { kind: 'delete', table: T, key, condition: { kind: 'ifTxIdAndState', txId: 'D', state: 2 } },
      ]);
      expect(await storage.get(T, key)).toBeUndefined();
      expect(
        await codeOf(storage.mutate([{ kind: 'delete', table: T, key, condition: { kind: 'ifExists' } }])),
      ).toBe('TX_CONDITION_FAILED');
      await storage.mutate([{ kind: 'delete', table: T, key }]);
    });

    it("applies a batch all or nothing (within the storage's atomicity)", async () => {
      await storage.mutate([
        {
          kind: 'put',
          table: T,
          key: { pk: 'atom', ck: 1 },
          values: { s: 'old', tx_id: 'X' },
          condition: { kind: 'ifNotExists' },
        },
      ]);
      const code = await codeOf(
        storage.mutate([
          {
            kind: 'put',
            table: T,
            key: { pk: 'atom', ck: 2 },
            values: { s: 'new' },
            condition: { kind: 'ifNotExists' },
          },
          {
            kind: 'put',
            table: T,
            key: { pk: 'atom', ck: 1 },
            values: { s: 'changed' },
            condition: { kind: 'ifTxId', txId: 'X' },
          },
          {
            kind: 'put',
            table: T,
            key: { pk: 'atom', ck: 3 },
            values: { s: 'bad' },
            condition: { kind: 'ifTxId', txId: 'nope' },
          },
        ]),
      );
      expect(code).toBe('TX_CONDITION_FAILED');
      expect(await storage.get(T, { pk: 'atom', ck: 3 })).toBeUndefined();
      if (storage.capabilities.atomicity === 'storage') {
        expect(await storage.get(T, { pk: 'atom', ck: 2 })).toBeUndefined();
        expect(await storage.get(T, { pk: 'atom', ck: 1 })).toMatchObject({ s: 'old' });
      } else {
        // Per-record atomicity (DynamoDB without TransactWriteItems): mutations before the failed one stand.
        expect(await storage.get(T, { pk: 'atom', ck: 2 })).toMatchObject({ s: 'new' });
        expect(await storage.get(T, { pk: 'atom', ck: 1 })).toMatchObject({ s: 'changed' });
      }
    });

    it('lets exactly one of several concurrent conditional writers win', async () => {
      const key = { pk: 'race', ck: 1 };
      await storage.mutate([
        { kind: 'put', table: T, key, values: { tx_id: 'base' }, condition: { kind: 'ifNotExists' } },
      ]);
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          storage.mutate([
            {
              kind: 'put',
              table: T,
              key,
              values: { tx_id: `w${i}` },
              condition: { kind: 'ifTxId', txId: 'base' },
            },
          ]),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected') expect((r.reason as TransactionError).code).toBe('TX_CONDITION_FAILED');
    });

    it('scans a partition in clustering order and pages through a whole table', async () => {
      const puts = Array.from({ length: 1203 }, (_, i) => ({
        kind: 'put' as const,
        table: T,
        key: { pk: `p${i % 3}`, ck: 1202 - i },
        values: { i },
      }));
      await storage.mutate(puts);
      const partition = await storage.scan(T, { pk: 'p1' });
      expect(partition).toHaveLength(401);
      expect(partition.map((r) => r.ck)).toEqual(
        [...partition.map((r) => r.ck as number)].sort((a, b) => a - b),
      );
      expect(await storage.scan(T, { pk: 'p1' }, { limit: 5 })).toHaveLength(5);
      const all: { pk: string; ck: number }[] = [];
      for await (const row of storage.scanAll(T)) all.push({ pk: row.pk as string, ck: row.ck as number });
      const pageRows = all.filter((r) => /^p\d$/.test(r.pk));
      expect(pageRows).toHaveLength(1203);
      expect(new Set(all.map((r) => `${r.pk}/${r.ck}`)).size).toBe(all.length);
    });

    it("reads the database server's clock", async () => {
      const now = await storage.now();
      expect(Number.isInteger(now)).toBe(true);
      // Same machine: the server clock is the host clock (a sanity bound, not a timing assertion).
      expect(Math.abs(now - Date.now())).toBeLessThan(60_000);
    });
  });
}
