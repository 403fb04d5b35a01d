/**
 * Write-set logging and Coordinator cleanup (ScalarDB 3.19's finishTransaction, src/txn/cleanup.ts) on two
 * SQLite files: the `tx_write_set` bytes against upstream's .proto (decoded by protobufjs), a commit's and a
 * commit-time abort's rows, finishing a committed transaction whose records are still PREPARED and an aborted
 * one, rows that must be kept, and cleanupCoordinator's threshold, limit and admission.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupCoordinator, finishTransaction } from '../../src/txn/cleanup.ts';
import { createTransactionManager } from '../../src/txn/consensus-commit.ts';
import type { StorageGroup, TableSchema, TransactionManager } from '../../src/txn/contract.ts';
import { TxState } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { decideAborted, resolveRecord } from '../../src/txn/recovery.ts';
import { COORDINATOR_SCHEMA, COORDINATOR_TABLE } from '../../src/txn/schema.ts';
import { decodeWriteSet, encodeWriteSet } from '../../src/txn/write-set.ts';

const A: TableSchema = {
  namespace: 'ns_a',
  table: 'acc',
  partitionKey: ['id'],
  clusteringKey: [],
  columns: { id: 'TEXT', balance: 'BIGINT' },
};
const B: TableSchema = { ...A, namespace: 'ns_b' };
/** Every key type we have, with a clustering key, for the codec. */
const WIDE: TableSchema = {
  namespace: 'ns_a',
  table: 'wide',
  partitionKey: ['p_int', 'p_big', 'p_text'],
  clusteringKey: ['c_bool', 'c_double', 'c_blob'],
  columns: {
    p_int: 'INT',
    p_big: 'BIGINT',
    p_text: 'TEXT',
    c_bool: 'BOOLEAN',
    c_double: 'DOUBLE',
    c_blob: 'BLOB',
    v: 'INT',
  },
};

const PROTO = fileURLToPath(new URL('../../src/txn/proto/consensus_commit.proto', import.meta.url));

class Crash extends Error {}
const crashAt = (point: 'afterPrepare' | 'afterCommitState') => ({
  [point]: () => {
    throw new Crash(point);
  },
});

describe('tx_write_set codec (upstream WriteSet protobuf)', () => {
  it('encodes what protobufjs reads with upstream consensus_commit.proto, and reads what it writes', async () => {
    const root = await protobuf.load(PROTO);
    const WriteSet = root.lookupType('scalardb.consensus_commit.proto.v1.WriteSet');
    const key = {
      p_int: -7,
      p_big: 2 ** 40,
      p_text: 'k',
      c_bool: true,
      c_double: 1.5,
      c_blob: new Uint8Array([1, 2]),
    };
    const bytes = encodeWriteSet([
      { schema: WIDE, key },
      { schema: A, key: { id: 'x' } },
    ]);
    const decoded = WriteSet.toObject(WriteSet.decode(bytes), { longs: Number, defaults: false });
    expect(decoded).toEqual({
      schemaVersion: 1,
      entryGroups: {
        entryGroups: [
          {
            entries: [
              {
                namespaceName: 'ns_a',
                tableName: 'wide',
                partitionKey: {
                  columns: [
                    { name: 'p_int', intValue: { value: -7 } },
                    { name: 'p_big', bigintValue: { value: 2 ** 40 } },
                    { name: 'p_text', textValue: { value: 'k' } },
                  ],
                },
                clusteringKey: {
                  columns: [
                    { name: 'c_bool', booleanValue: { value: true } },
                    { name: 'c_double', doubleValue: { value: 1.5 } },
                    { name: 'c_blob', blobValue: { value: Buffer.from([1, 2]) } },
                  ],
                },
              },
              {
                namespaceName: 'ns_a',
                tableName: 'acc',
                partitionKey: { columns: [{ name: 'id', textValue: { value: 'x' } }] },
              },
            ],
          },
        ],
      },
    });
    // A read-only commit is an empty EntryGroups, never an unset payload (schema_version 1, then field 2 empty).
    expect(Buffer.from(encodeWriteSet([]))).toEqual(Buffer.from([0x08, 0x01, 0x12, 0x00]));
    // Upstream's group commit writes one EntryGroup per child with its child_id; a null key value is an unset inner value.
    const upstream = WriteSet.encode(
      WriteSet.fromObject({
        schemaVersion: 1,
        entryGroups: {
          entryGroups: [
            {
              childId: 'c1',
              entries: [
                {
                  namespaceName: 'ns_a',
                  tableName: 'acc',
                  partitionKey: { columns: [{ name: 'id', textValue: {} }] },
                },
              ],
            },
          ],
        },
      }),
    ).finish();
    expect(decodeWriteSet(upstream)).toEqual({
      groups: [
        { childId: 'c1', entries: [{ table: { namespace: 'ns_a', table: 'acc' }, key: { id: null } }] },
      ],
    });
    expect(decodeWriteSet(bytes).groups[0]?.entries[0]?.key).toEqual(key);
  });

  it('refuses a newer schema version instead of reading it as "no entries"', () => {
    expect(() => decodeWriteSet(Buffer.from([0x08, 0x02, 0x12, 0x00]))).toThrow(/schema_version 2/);
    expect(() => decodeWriteSet(Buffer.from([0x08, 0x01]))).toThrow(/payload/);
  });
});

describe('write-set logging and finishTransaction on two SQLite files', () => {
  let dir: string;
  let group: StorageGroup;
  let tm: TransactionManager;
  let now: number;
  let crashes = 0;

  const open = async (coordinatorColumns = COORDINATOR_SCHEMA.columns) => {
    group = await openGroup({
      storages: {
        one: { kind: 'sqlite', path: join(dir, 'one.sqlite') },
        two: { kind: 'sqlite', path: join(dir, 'two.sqlite') },
      },
      namespaces: { ns_a: 'one', ns_b: 'two', coordinator: 'two' },
    });
    await group.storageFor('coordinator').createTable({ ...COORDINATOR_SCHEMA, columns: coordinatorColumns });
    await group.createTable(A);
    await group.createTable(B);
    tm = createTransactionManager({ group, now: () => now });
    await tm.run((tx) => {
      for (const id of ['x', 'y']) {
        tx.put(A, { id }, { balance: 100 });
        tx.put(B, { id }, { balance: 100 });
      }
      return Promise.resolve();
    });
  };
  /** Moves 10 from A.x to B.x. */
  const transfer = (manager: TransactionManager) =>
    manager.run(
      async (tx) => {
        tx.put(A, { id: 'x' }, { balance: Number((await tx.get(A, { id: 'x' }))?.balance) - 10 });
        tx.put(B, { id: 'x' }, { balance: Number((await tx.get(B, { id: 'x' }))?.balance) + 10 });
        return tx.id;
      },
      { retries: 0 },
    );
  const crashed = async (point: 'afterPrepare' | 'afterCommitState'): Promise<string> => {
    let id = '';
    const crashing = createTransactionManager({
      group,
      now: () => now,
      failpoints: crashAt(point),
      idGenerator: () => (id = `crash-${point}-${(crashes += 1)}`),
    });
    await expect(transfer(crashing)).rejects.toBeInstanceOf(Crash);
    return id;
  };
  const stateRow = (txId: string) => group.storageFor('coordinator').get(COORDINATOR_TABLE, { tx_id: txId });
  const record = (t: TableSchema, id: string) => group.storageFor(t.namespace).get(t, { id });
  const balances = async () => [
    (await record(A, 'x'))?.balance,
    (await record(B, 'x'))?.balance,
    (await record(A, 'x'))?.tx_state,
    (await record(B, 'x'))?.tx_state,
  ];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stillpoint-cleanup-'));
    now = 1_000_000;
  });
  afterEach(async () => {
    await group?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a commit logs its write set (namespace, table, key of each record) in its Coordinator row', async () => {
    await open();
    const txId = await transfer(tm);
    const bytes = (await stateRow(txId))?.tx_write_set;
    expect(bytes).toBeInstanceOf(Uint8Array);
    const { groups } = decodeWriteSet(bytes as Uint8Array);
    expect(groups).toHaveLength(1);
    expect(groups[0]?.childId).toBeUndefined();
    expect(groups[0]?.entries).toEqual(
      expect.arrayContaining([
        { table: { namespace: 'ns_a', table: 'acc' }, key: { id: 'x' } },
        { table: { namespace: 'ns_b', table: 'acc' }, key: { id: 'x' } },
      ]),
    );
    expect(groups[0]?.entries).toHaveLength(2);
  });

  it('logs nothing when turned off, or when the Coordinator table has no tx_write_set (ScalarDB created it with logging off)', async () => {
    const { tx_write_set: _dropped, ...without } = COORDINATOR_SCHEMA.columns;
    await open(without);
    const txId = await transfer(tm);
    expect(await stateRow(txId)).toMatchObject({ tx_state: TxState.COMMITTED });
    expect((await stateRow(txId))?.tx_write_set).toBeUndefined();
    await group.close();
    await rm(dir, { recursive: true, force: true });
    await open();
    const off = createTransactionManager({ group, now: () => now, writeSetLogging: false });
    const offId = await transfer(off);
    expect((await stateRow(offId))?.tx_write_set).toBeNull();
    expect(await finishTransaction(group, offId)).toBe(false);
    expect(await stateRow(offId)).toBeDefined();
  });

  it('finishTransaction rolls a committed transaction forward (its records still PREPARED) and deletes its row; again: true', async () => {
    await open();
    const txId = await crashed('afterCommitState');
    expect(await balances()).toEqual([90, 110, TxState.PREPARED, TxState.PREPARED]);
    const createdAt = Number((await stateRow(txId))?.tx_created_at);
    expect(await finishTransaction(group, txId)).toBe(true);
    expect(await balances()).toEqual([90, 110, TxState.COMMITTED, TxState.COMMITTED]);
    expect((await record(A, 'x'))?.tx_committed_at).toBe(createdAt);
    expect((await record(A, 'x'))?.before_balance).toBeNull();
    expect(await stateRow(txId)).toBeUndefined();
    expect(await finishTransaction(group, txId)).toBe(true);
  });

  it('finishTransaction rolls an aborted transaction back (a committer that crashed after writing ABORTED) and deletes its row', async () => {
    await open();
    const txId = await crashed('afterPrepare');
    // The committer's own abort carries its write set; it crashed before undoing its records.
    const writeSet = encodeWriteSet([
      { schema: A, key: { id: 'x' } },
      { schema: B, key: { id: 'x' } },
    ]);
    expect(await decideAborted(group, txId, now, writeSet)).toBe(TxState.ABORTED);
    expect(await balances()).toEqual([90, 110, TxState.PREPARED, TxState.PREPARED]);
    expect(await finishTransaction(group, txId)).toBe(true);
    expect(await balances()).toEqual([100, 100, TxState.COMMITTED, TxState.COMMITTED]);
    expect(await stateRow(txId)).toBeUndefined();
  });

  it("a commit that loses a prepare to another transaction writes ABORTED with its write set; finishing it leaves the winner's records alone", async () => {
    await open();
    const loser = await tm.begin();
    await loser.get(B, { id: 'x' });
    const winner = await transfer(tm);
    loser.put(A, { id: 'x' }, { balance: 1 });
    loser.put(B, { id: 'x' }, { balance: 1 });
    await expect(loser.commit()).rejects.toMatchObject({ code: 'TX_CONFLICT' });
    const row = await stateRow(loser.id);
    expect(row).toMatchObject({ tx_state: TxState.ABORTED });
    expect(decodeWriteSet(row?.tx_write_set as Uint8Array).groups[0]?.entries).toHaveLength(2);
    expect(await finishTransaction(group, loser.id)).toBe(true);
    expect(await stateRow(loser.id)).toBeUndefined();
    expect(await balances()).toEqual([90, 110, TxState.COMMITTED, TxState.COMMITTED]);
    expect((await record(B, 'x'))?.tx_id).toBe(winner);
  });

  it("keeps a row without a write set (a reader's abort): false, for lazy recovery", async () => {
    await open();
    const txId = await crashed('afterPrepare');
    expect(await decideAborted(group, txId, now)).toBe(TxState.ABORTED);
    expect(await finishTransaction(group, txId)).toBe(false);
    expect(await stateRow(txId)).toMatchObject({ tx_state: TxState.ABORTED, tx_write_set: null });
    expect(await balances()).toEqual([90, 110, TxState.PREPARED, TxState.PREPARED]);
  });

  it('does not touch a record a later transaction owns, even a pending one', async () => {
    await open();
    const first = await crashed('afterCommitState');
    // A later transfer rolls the records forward through the row (lazy recovery), prepares both, and crashes.
    const second = await crashed('afterPrepare');
    expect(await finishTransaction(group, first)).toBe(true);
    expect(await balances()).toEqual([80, 120, TxState.PREPARED, TxState.PREPARED]);
    expect((await record(A, 'x'))?.tx_id).toBe(second);
    expect(await stateRow(first)).toBeUndefined();
  });

  it('a reader holding a stale PREPARED copy of a record cleanup finished does not abort the committed transaction (re-read first, as 3.19)', async () => {
    await open();
    const txId = await crashed('afterCommitState');
    const stale = await record(A, 'x');
    expect(await finishTransaction(group, txId)).toBe(true);
    expect(await resolveRecord(group, A, { id: 'x' }, stale!, { expiryMs: 0, now: () => now })).toBe('none');
    expect(await stateRow(txId)).toBeUndefined();
    expect(await balances()).toEqual([90, 110, TxState.COMMITTED, TxState.COMMITTED]);
  });

  it('cleanupCoordinator finishes decided rows older than the threshold, at most `limit`, each through `admit`; keeps rows without a write set', async () => {
    await open();
    const pending = await crashed('afterCommitState');
    const ids = [await transfer(tm), await transfer(tm)];
    await decideAborted(group, 'reader-abort', now); // no write set
    now += 5_000;
    const young = await transfer(tm);
    const admitted: number[] = [];
    const admit = <T>(finish: () => Promise<T>): Promise<T> => {
      admitted.push(1);
      return finish();
    };
    // The setup transaction, the crashed one and two transfers are old enough; limit 2 finishes two of them.
    expect(
      await cleanupCoordinator(group, { olderThanMs: 1_000, limit: 2, now: () => now, admit }),
    ).toMatchObject({
      finished: 2,
      kept: 1,
    });
    expect(admitted).toHaveLength(2);
    const rest = await cleanupCoordinator(group, { olderThanMs: 1_000, now: () => now, admit });
    expect(rest).toEqual({ scanned: 4, finished: 2, kept: 1 });
    for (const id of [pending, ...ids]) expect(await stateRow(id)).toBeUndefined();
    expect(await stateRow(young)).toBeDefined();
    expect(await stateRow('reader-abort')).toBeDefined();
    expect(await balances()).toEqual([60, 140, TxState.COMMITTED, TxState.COMMITTED]);
    // A closed gate (what `admit` throws while paused) stops the call before anything changes.
    now += 5_000;
    const paused = () => Promise.reject(new Error('paused'));
    await expect(
      cleanupCoordinator(group, { olderThanMs: 1_000, now: () => now, admit: paused }),
    ).rejects.toThrow('paused');
    expect(await stateRow(young)).toBeDefined();
  });
});
