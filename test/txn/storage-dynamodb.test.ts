import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { startLocalDynalite, type LocalDynalite } from '../../src/lab/local-servers/dynalite-server.ts';
import type { DynamoStorage } from '../../src/txn/storages/dynamodb/dynamodb-storage.ts';
import { createStorage } from '../../src/txn/storages/index.ts';
import { COORDINATOR_SCHEMA, COORDINATOR_TABLE } from '../../src/txn/schema.ts';
import { codeOf, ITEMS, storageContractSuite } from './storage-contract.ts';

let server: LocalDynalite;
let run = 0;
beforeAll(async () => {
  server = await startLocalDynalite();
});
afterAll(async () => {
  await server?.destroy();
});

// A fresh prefix per suite run: fresh tables, one dynalite.
storageContractSuite('dynamodb (dynalite)', async () => ({
  storage: await createStorage('dyn', server.connection(`c${(run += 1)}_`)),
  cleanup: () => Promise.resolve(),
}));

describe('dynamodb storage: ScalarDB on-disk format', () => {
  it("names tables <prefix><ns>.<table>, keys them by the ordered encoding, drops nulls, and keeps ScalarDB's catalog", async () => {
    const storage = (await createStorage('dyn', server.connection('fmt_'))) as DynamoStorage;
    try {
      await storage.createTable(ITEMS);
      await storage.createTable(COORDINATOR_SCHEMA);
      const T = { namespace: ITEMS.namespace, table: ITEMS.table };
      await storage.mutate([
        { kind: 'put', table: T, key: { pk: 'a', ck: -1 }, values: { s: 'x', n: null, b: true } },
      ]);
      const raw = await storage.client.send(new ScanCommand({ TableName: 'fmt_contract_ns.items' }));
      const item = raw.Items?.[0] ?? {};
      // TEXT 'a' + 00 terminator; INT -1 → FFFFFFFF with the sign bit flipped → 7FFFFFFF.
      expect([...(item.concatenatedPartitionKey?.B ?? [])]).toEqual([0x61, 0x00]);
      expect([...(item.concatenatedClusteringKey?.B ?? [])]).toEqual([0x7f, 0xff, 0xff, 0xff]);
      expect(item).toMatchObject({ pk: { S: 'a' }, ck: { N: '-1' }, s: { S: 'x' }, b: { BOOL: true } });
      expect(item.n).toBeUndefined();
      const meta = await storage.client.send(
        new GetItemCommand({
          TableName: 'fmt_scalardb.metadata',
          Key: { table: { S: 'fmt_contract_ns.items' } },
        }),
      );
      expect(meta.Item?.partitionKey).toEqual({ L: [{ S: 'pk' }] });
      expect(meta.Item?.columns?.M?.tx_state).toEqual({ S: 'int' });
      expect(meta.Item?.columns?.M?.before_s).toEqual({ S: 'text' });
      // Coordinator: key = UTF-8(tx_id) + 00, no range key.
      await storage.mutate([
        {
          kind: 'put',
          table: COORDINATOR_TABLE,
          key: { tx_id: 'T1' },
          values: { tx_state: 3, tx_created_at: 5 },
          condition: { kind: 'ifNotExists' },
        },
      ]);
      const coord = await storage.client.send(new ScanCommand({ TableName: 'fmt_coordinator.state' }));
      expect([...(coord.Items?.[0]?.concatenatedPartitionKey?.B ?? [])]).toEqual([0x54, 0x31, 0x00]);
      expect(coord.Items?.[0]?.concatenatedClusteringKey).toBeUndefined();
    } finally {
      await storage.close();
    }
  });

  it('orders negative and positive clustering keys by value (the sign-bit flip)', async () => {
    const storage = await createStorage('dyn', server.connection('ord_'));
    try {
      await storage.createTable(ITEMS);
      const T = { namespace: ITEMS.namespace, table: ITEMS.table };
      const cks = [5, -3, 0, 2_000_000_000, -2_000_000_000, 1];
      await storage.mutate(
        cks.map((ck) => ({ kind: 'put' as const, table: T, key: { pk: 'o', ck }, values: {} })),
      );
      expect((await storage.scan(T, { pk: 'o' })).map((r) => r.ck)).toEqual([...cks].sort((a, b) => a - b));
    } finally {
      await storage.close();
    }
  });

  it('reads back a table another process created (catalog lookup) and refuses an unknown table', async () => {
    const a = await createStorage('dyn', server.connection('cat_'));
    const b = await createStorage('dyn', server.connection('cat_'));
    try {
      await a.createTable(ITEMS);
      const T = { namespace: ITEMS.namespace, table: ITEMS.table };
      await a.mutate([{ kind: 'put', table: T, key: { pk: 'x', ck: 1 }, values: { s: 'from a' } }]);
      expect(await b.get(T, { pk: 'x', ck: 1 })).toMatchObject({ s: 'from a' });
      expect(await codeOf(b.get({ namespace: 'nope', table: 't' }, { k: 1 }))).toBe('TXN_TABLE_NOT_FOUND');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reports an endpoint nobody listens on as STORAGE_UNREACHABLE', async () => {
    expect(
      await codeOf(
        createStorage('dyn', {
          kind: 'dynamodb',
          region: 'us-east-1',
          endpoint: 'http://127.0.0.1:1',
          dummyCredentials: true,
        }),
      ),
    ).toBe('STORAGE_UNREACHABLE');
  });
});
