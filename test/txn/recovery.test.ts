/**
 * Recovery on records laid down directly in the on-disk format (as real ScalarDB, or a restored backup,
 * leaves them): group-commit ids, DELETED records, inserts without a before image.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row, StorageGroup, TableSchema } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { coordinatorState, readCoordinatorStates, sweep } from '../../src/txn/recovery.ts';
import { COORDINATOR_TABLE } from '../../src/txn/schema.ts';

const T: TableSchema = {
  namespace: 'ns',
  table: 't',
  partitionKey: ['id'],
  clusteringKey: [],
  columns: { id: 'TEXT', v: 'INT' },
};
const PARENT = 'ABCDEFGHIJKLMNOPQRSTUVWX';
const OLD = {
  before_v: 1,
  before_tx_id: 'old',
  before_tx_state: 3,
  before_tx_version: 1,
  before_tx_prepared_at: 1,
  before_tx_committed_at: 2,
};

describe('recovery of records in the on-disk format', () => {
  let dir: string;
  let group: StorageGroup;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stillpoint-recovery-'));
    group = await openGroup({
      storages: { s: { kind: 'sqlite', path: join(dir, 'db.sqlite') } },
      namespaces: { ns: 's', coordinator: 's' },
    });
    await group.createCoordinatorTable();
    await group.createTable(T);
    const put = (table: typeof T | typeof COORDINATOR_TABLE, key: Row, values: Row) =>
      group.storageFor('ns').mutate([{ kind: 'put', table, key, values }]);
    await put(COORDINATOR_TABLE, { tx_id: PARENT }, { tx_state: 3, tx_created_at: 1, tx_child_ids: 'c1,c2' });
    await put(COORDINATOR_TABLE, { tx_id: `${PARENT}$c2` }, { tx_state: 4, tx_created_at: 1 });
    await put(COORDINATOR_TABLE, { tx_id: 'aborted' }, { tx_state: 4, tx_created_at: 1 });
    const prepared = (txId: string, state: number) => ({
      tx_id: txId,
      tx_state: state,
      tx_version: 2,
      tx_prepared_at: 10,
    });
    await put(T, { id: 'group-member' }, { v: 2, ...prepared(`${PARENT}$c1`, 1), ...OLD });
    await put(T, { id: 'own-row-wins' }, { v: 2, ...prepared(`${PARENT}$c2`, 1), ...OLD });
    await put(T, { id: 'not-a-member' }, { v: 2, ...prepared(`${PARENT}$c9`, 1), ...OLD });
    await put(T, { id: 'deleted-aborted' }, { v: 2, ...prepared('aborted', 2), ...OLD });
    await put(T, { id: 'insert-undecided' }, { v: 5, ...prepared('gone', 1), tx_version: 1 });
    await put(T, { id: 'committed' }, { v: 9, tx_id: 'old', tx_state: 3, tx_version: 1 });
    // A transaction whose Coordinator row was cleaned up (3.19 finishTransaction) after one record rolled forward.
    await put(
      T,
      { id: 'cleaned-done' },
      { v: 4, tx_id: 'cleaned', tx_state: 3, tx_version: 2, tx_prepared_at: 10, tx_committed_at: 11 },
    );
    await put(T, { id: 'cleaned-pending' }, { v: 4, ...prepared('cleaned', 1), ...OLD });
  });
  afterAll(async () => {
    await group?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('finds group-commit decisions as upstream getState does: the parent row if it lists the child, else the full-id row', async () => {
    expect(await coordinatorState(group, `${PARENT}$c1`)).toBe(3);
    expect(await coordinatorState(group, `${PARENT}$c2`)).toBe(3);
    expect(await coordinatorState(group, `${PARENT}:c1`)).toBeUndefined();
    expect(await coordinatorState(group, `${PARENT}$c9`)).toBeUndefined();
    const states = await readCoordinatorStates(group);
    expect([states.get(`${PARENT}$c1`), states.get(`${PARENT}$c2`), states.get(`${PARENT}$c9`)]).toEqual([
      3,
      3,
      undefined,
    ]);
  });

  it('sweeps every record to a decided state', async () => {
    const report = await sweep(group, { expiryMs: 0, now: () => 1_000_000 });
    expect(report).toEqual({ scanned: 8, rolledForward: 3, rolledBack: 1, abortedExpired: 2, unresolved: 0 });
    const get = (id: string) => group.storageFor('ns').get(T, { id });
    expect(await get('group-member')).toMatchObject({ v: 2, tx_state: 3, before_v: null });
    expect(await get('own-row-wins')).toMatchObject({ v: 2, tx_state: 3, before_v: null });
    // Rolled forward on the evidence of its committed sibling, and the decision written down for other readers.
    expect(await get('cleaned-pending')).toMatchObject({
      v: 4,
      tx_id: 'cleaned',
      tx_state: 3,
      before_v: null,
    });
    expect((await readCoordinatorStates(group)).get('cleaned')).toBe(3);
    // An expired group member not in its group: a children-less ABORTED parent row would fence; here the parent
    // row exists, so only the full-id row is written.
    expect((await readCoordinatorStates(group)).get(`${PARENT}$c9`)).toBe(4);
    expect(await get('not-a-member')).toMatchObject({ v: 1, tx_id: 'old', tx_state: 3 });
    expect(await get('deleted-aborted')).toMatchObject({ v: 1, tx_id: 'old', tx_state: 3 });
    expect(await get('insert-undecided')).toBeUndefined();
    expect(await get('committed')).toMatchObject({ v: 9 });
    expect((await readCoordinatorStates(group)).get('gone')).toBe(4);
  });
});
