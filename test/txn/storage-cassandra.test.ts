/**
 * The storage contract and Consensus Commit on a REAL Apache Cassandra 5.0 node (cassandra-all from Maven
 * Central, started by src/lab/local-servers/cassandra-server.ts), plus ScalarDB's Cassandra format.
 * One node per file: start-up takes tens of seconds on 2 cores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cassandraUnavailable,
  startLocalCassandra,
  type LocalCassandra,
} from '../../src/lab/local-servers/cassandra-server.ts';
import type { CassandraStorage } from '../../src/txn/storages/cassandra/cassandra-storage.ts';
import { createStorage } from '../../src/txn/storages/index.ts';
import { codeOf, ITEMS, storageContractSuite } from './storage-contract.ts';
import { transactionSuite } from './transaction-suite.ts';

const why = cassandraUnavailable();
if (why !== undefined) describe.skip(`cassandra: ${why}`, () => {});
else {
  let server: LocalCassandra;
  beforeAll(async () => {
    server = await startLocalCassandra();
  }, 300_000);
  afterAll(async () => {
    await server?.destroy();
  });

  storageContractSuite('cassandra (real node)', async () => ({
    storage: await createStorage('cass', server.connection()),
    cleanup: () => Promise.resolve(),
  }));

  transactionSuite('bank_a, bank_b and the Coordinator on one Cassandra', () =>
    Promise.resolve({
      config: {
        storages: { cass: server.connection() },
        namespaces: { bank_a: 'cass', bank_b: 'cass', coordinator: 'cass' },
      },
      cleanup: () => Promise.resolve(),
    }),
  );

  describe("cassandra storage: ScalarDB's Cassandra format", () => {
    it('makes a keyspace per namespace, native columns, CLUSTERING ORDER, no metadata table', async () => {
      const storage = (await createStorage('cass', server.connection())) as CassandraStorage;
      try {
        const schema = { ...ITEMS, namespace: 'fmt_ns' };
        await storage.createTable(schema);
        const ks = await storage.client.execute(
          "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'fmt_ns'",
        );
        expect(ks.rows[0]?.get('replication')).toMatchObject({
          class: 'org.apache.cassandra.locator.SimpleStrategy',
        });
        const cols = await storage.client.execute(
          "SELECT column_name, type, kind, clustering_order FROM system_schema.columns WHERE keyspace_name = 'fmt_ns' AND table_name = 'items'",
        );
        const byName = Object.fromEntries(cols.rows.map((r) => [r.get('column_name') as string, r]));
        expect(byName.pk?.get('kind')).toBe('partition_key');
        expect(byName.ck?.get('clustering_order')).toBe('asc');
        expect(byName.n?.get('type')).toBe('bigint');
        expect(byName.tx_state?.get('type')).toBe('int');
        expect(byName.before_s?.get('type')).toBe('text');
        const tables = await storage.client.execute('SELECT keyspace_name FROM system_schema.tables');
        expect(tables.rows.map((r) => r.get('keyspace_name') as string)).not.toContain('scalardb');
        // A prepared record is written by an LWT and reads back at SERIAL.
        const T = { namespace: 'fmt_ns', table: 'items' };
        await storage.mutate([
          {
            kind: 'put',
            table: T,
            key: { pk: 'a', ck: 1 },
            values: { tx_id: 't', tx_state: 1 },
            condition: { kind: 'ifNotExists' },
          },
        ]);
        expect(await storage.get(T, { pk: 'a', ck: 1 })).toMatchObject({ tx_id: 't', tx_state: 1 });
      } finally {
        await storage.close();
      }
    });

    it('serves a namespace from a renamed keyspace (restore into new keyspaces)', async () => {
      const a = (await createStorage('cass', server.connection())) as CassandraStorage;
      const b = (await createStorage('cass', server.connection())) as CassandraStorage;
      try {
        b.usePhysicalNames({ ren_ns: 'ren_ns_copy' });
        const schema = { ...ITEMS, namespace: 'ren_ns' };
        await b.createTable(schema);
        const T = { namespace: 'ren_ns', table: 'items' };
        await b.mutate([{ kind: 'put', table: T, key: { pk: 'x', ck: 1 }, values: { s: 'copy' } }]);
        a.usePhysicalNames({ ren_ns: 'ren_ns_copy' });
        expect(await a.get(T, { pk: 'x', ck: 1 })).toMatchObject({ s: 'copy' });
        expect(
          await codeOf(createStorage('cass', server.connection()).then((s) => s.get(T, { pk: 'x', ck: 1 }))),
        ).toBe('TXN_TABLE_NOT_FOUND');
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('reports a port nobody listens on as STORAGE_UNREACHABLE', async () => {
      expect(await codeOf(createStorage('cass', { ...server.connection(), port: 1 }))).toBe(
        'STORAGE_UNREACHABLE',
      );
    });
  });
}
