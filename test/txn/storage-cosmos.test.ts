/**
 * The storage contract on Cosmos DB: a real cosmosdb-server over HTTPS (self-signed certificate trusted
 * through caFile only), one per file, a fresh database prefix per suite run; and ScalarDB's document shape.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCosmos, type LocalCosmos } from '../../src/lab/local-servers/cosmosdb-server.ts';
import type { CosmosStorage } from '../../src/txn/storages/cosmos/cosmos-storage.ts';
import { javaDouble } from '../../src/txn/storages/cosmos/documents.ts';
import { createStorage } from '../../src/txn/storages/index.ts';
import { COORDINATOR_SCHEMA, COORDINATOR_TABLE } from '../../src/txn/schema.ts';
import { codeOf, ITEMS, storageContractSuite } from './storage-contract.ts';

let server: LocalCosmos;
let run = 0;
beforeAll(async () => {
  server = await startLocalCosmos();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
});

storageContractSuite('cosmos (cosmosdb-server, ETag mutations)', async () => ({
  storage: await createStorage('cosmos', server.connection(`c${(run += 1)}_`)),
  cleanup: () => Promise.resolve(),
}));

describe('cosmos storage: ScalarDB on-disk format', () => {
  const T = { namespace: ITEMS.namespace, table: ITEMS.table };

  it('writes documents with id, concatenatedPartitionKey, key maps and values without nulls, and the catalog', async () => {
    const storage = (await createStorage('cosmos', server.connection('fmt_'))) as CosmosStorage;
    try {
      await storage.createTable(ITEMS);
      await storage.createTable(COORDINATOR_SCHEMA);
      await storage.mutate([
        { kind: 'put', table: T, key: { pk: 'a', ck: -1 }, values: { s: 'x', n: null, b: true, d: 2.5 } },
      ]);
      const { resource } = await storage.client
        .database('fmt_contract_ns')
        .container('items')
        .item('a:-1', 'a')
        .read<Record<string, unknown>>();
      expect(resource).toMatchObject({
        id: 'a:-1',
        concatenatedPartitionKey: 'a',
        partitionKey: { pk: 'a' },
        clusteringKey: { ck: -1 },
        values: { s: 'x', b: true, d: 2.5 },
      });
      expect((resource?.values as Record<string, unknown>).n).toBeUndefined();
      const meta = await storage.client
        .database('fmt_scalardb')
        .container('metadata')
        .item('contract_ns.items', 'contract_ns.items')
        .read<Record<string, unknown>>();
      expect(meta.resource).toMatchObject({
        partitionKeyNames: ['pk'],
        clusteringKeyNames: ['ck'],
        columns: { tx_state: 'int', before_s: 'text' },
      });
      await storage.mutate([
        {
          kind: 'put',
          table: COORDINATOR_TABLE,
          key: { tx_id: 'T1' },
          values: { tx_state: 3, tx_created_at: 5 },
          condition: { kind: 'ifNotExists' },
        },
      ]);
      const coord = await storage.client
        .database('fmt_coordinator')
        .container('state')
        .item('T1', 'T1')
        .read();
      expect(coord.resource).toMatchObject({
        id: 'T1',
        concatenatedPartitionKey: 'T1',
        values: { tx_state: 3 },
      });
    } finally {
      await storage.close();
    }
  });

  it("formats DOUBLE key text as Java's Double.toString", () => {
    expect([1, 1.5, 1e10, -0.0001234, 0, 123456789].map(javaDouble)).toEqual([
      '1.0',
      '1.5',
      '1.0E10',
      '-1.234E-4',
      '0.0',
      '1.23456789E8',
    ]);
  });

  it('refuses a BIGINT outside ±2^53 and a key text Cosmos DB ids cannot carry', async () => {
    const storage = await createStorage('cosmos', server.connection('lim_'));
    try {
      await storage.createTable(ITEMS);
      expect(
        await codeOf(
          storage.mutate([{ kind: 'put', table: T, key: { pk: 'x', ck: 1 }, values: { n: 2n ** 60n } }]),
        ),
      ).toBe('COSMOS_VALUE_OUT_OF_RANGE');
      expect(
        await codeOf(storage.mutate([{ kind: 'put', table: T, key: { pk: 'a/b', ck: 1 }, values: {} }])),
      ).toBe('COSMOS_KEY_INVALID');
    } finally {
      await storage.close();
    }
  });

  it('reads back a table another client created and refuses an unknown table', async () => {
    const a = await createStorage('cosmos', server.connection('cat_'));
    const b = await createStorage('cosmos', server.connection('cat_'));
    try {
      await a.createTable(ITEMS);
      await a.mutate([{ kind: 'put', table: T, key: { pk: 'x', ck: 1 }, values: { s: 'from a' } }]);
      expect(await b.get(T, { pk: 'x', ck: 1 })).toMatchObject({ s: 'from a' });
      expect(await codeOf(b.get({ namespace: 'nope', table: 't' }, { k: 1 }))).toBe('TXN_TABLE_NOT_FOUND');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reports an endpoint nobody listens on as STORAGE_UNREACHABLE, and an untrusted certificate too', async () => {
    const dead = { ...server.connection(), endpoint: 'https://127.0.0.1:1/' };
    expect(await codeOf(createStorage('cosmos', dead))).toBe('STORAGE_UNREACHABLE');
    const { caFile: _ca, ...untrusted } = server.connection();
    expect(await codeOf(createStorage('cosmos', untrusted))).toBe('STORAGE_UNREACHABLE');
  });
});
