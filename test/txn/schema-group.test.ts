import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageGroup, TableSchema } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { COORDINATOR_SCHEMA, physicalColumns, userSchemaFromPhysical } from '../../src/txn/schema.ts';
import { createStorage } from '../../src/txn/storages/index.ts';
import { codeOf } from './storage-contract.ts';

const ACCOUNTS: TableSchema = {
  namespace: 'bank_a',
  table: 'accounts',
  partitionKey: ['id'],
  clusteringKey: [],
  columns: { id: 'TEXT', balance: 'BIGINT' },
};

describe('schema', () => {
  it('adds exactly the ScalarDB metadata columns: tx_*, before_<non-key col>, before_tx_*', () => {
    expect(physicalColumns(ACCOUNTS)).toEqual({
      id: 'TEXT',
      balance: 'BIGINT',
      tx_id: 'TEXT',
      tx_state: 'INT',
      tx_version: 'INT',
      tx_prepared_at: 'BIGINT',
      tx_committed_at: 'BIGINT',
      before_balance: 'BIGINT',
      before_tx_id: 'TEXT',
      before_tx_state: 'INT',
      before_tx_version: 'INT',
      before_tx_prepared_at: 'BIGINT',
      before_tx_committed_at: 'BIGINT',
    });
    expect(physicalColumns(COORDINATOR_SCHEMA)).toEqual({
      tx_id: 'TEXT',
      tx_child_ids: 'TEXT',
      tx_state: 'INT',
      tx_created_at: 'BIGINT',
      tx_write_set: 'BLOB',
    });
  });

  it('recovers the user schema from the physical columns', () => {
    expect(userSchemaFromPhysical(ACCOUNTS, ['id'], [], physicalColumns(ACCOUNTS))).toEqual(ACCOUNTS);
    expect(
      userSchemaFromPhysical(COORDINATOR_SCHEMA, ['tx_id'], [], physicalColumns(COORDINATOR_SCHEMA)),
    ).toEqual(COORDINATOR_SCHEMA);
  });
});

describe('storage group', () => {
  let dir: string;
  let group: StorageGroup;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stillpoint-group-'));
    group = await openGroup({
      storages: {
        one: { kind: 'sqlite', path: join(dir, 'one.sqlite') },
        two: { kind: 'sqlite', path: join(dir, 'two.sqlite') },
      },
      namespaces: { bank_a: 'one', bank_b: 'two', coordinator: 'two' },
    });
  });
  afterAll(async () => {
    await group?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('maps namespaces to storages and lists every table from the catalogs', async () => {
    await group.createCoordinatorTable();
    await group.createTable(ACCOUNTS);
    await group.createTable({ ...ACCOUNTS, namespace: 'bank_b' });
    expect(group.storageFor('bank_a').name).toBe('one');
    expect(group.storageFor('coordinator').name).toBe('two');
    const tables = (await group.tables()).map((t) => `${t.namespace}.${t.table}`).sort();
    expect(tables).toEqual(['bank_a.accounts', 'bank_b.accounts', 'coordinator.state']);
    // A fresh storage on the same file (as after a restore) reads the same catalog.
    const fresh = await createStorage('again', { kind: 'sqlite', path: join(dir, 'one.sqlite') });
    expect(await fresh.listTables('bank_a')).toEqual([ACCOUNTS]);
    await fresh.close();
  });

  it('refuses an unmapped namespace and a mapping to an unknown storage', async () => {
    expect(() => group.storageFor('nowhere')).toThrowError(/TXN_NAMESPACE_UNMAPPED/);
    expect(await codeOf(openGroup({ storages: {}, namespaces: { a: 'missing' } }))).toBe(
      'TXN_NAMESPACE_UNMAPPED',
    );
  });

  it('closes what it opened when one storage cannot be opened', async () => {
    const code = await codeOf(
      openGroup({
        storages: {
          ok: { kind: 'sqlite', path: join(dir, 'ok.sqlite') },
          bad: { kind: 'postgres', host: '127.0.0.1', port: 1, user: 'x', database: 'x' },
        },
        namespaces: { a: 'ok', b: 'bad' },
      }),
    );
    expect(code).toBe('STORAGE_UNREACHABLE');
  });
});
