/**
 * The backup risk of Coordinator cleanup (shared/reference/scalardb-storage-formats.md §7), played out on two
 * SQLite files copied at different instants, as a non-atomic backup copies its members: `one` (ns_a) first,
 * then `two` (ns_b and the Coordinator), with an ungated cleanup in between — during a pause, so no
 * transaction runs, only cleanup. A committed transaction whose records were left PREPARED (its committer
 * crashed after the commit point) is what cleanup finishes between the copies. This is the unsafe capture
 * order on purpose: the orchestrator copies the Coordinator's member first (docs/compatibility.md, "Capture
 * order under Coordinator cleanup"), which alone makes every case below restore the transaction.
 *
 * Why the trials' checker cannot see a torn restore from this: cleanup deletes a row only after every record
 * of its write set is final, and while paused no later transaction can overwrite one. So a restored
 * transaction without its row either has a COMMITTED record somewhere in the copies — the sweep's
 * committedEvidence then rolls the PREPARED ones forward — or has only PREPARED records, which the sweep
 * aborts all together: consistent, but a committed transaction lost. These tests show the three: evidence
 * saving the split transaction (and its absence tearing it), the loss, and the gated cleanup avoiding both.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupCoordinator } from '../../src/txn/cleanup.ts';
import { createTransactionManager } from '../../src/txn/consensus-commit.ts';
import type { GroupConfig, StorageGroup, TableSchema } from '../../src/txn/contract.ts';
import { TxState } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { resolveRecord, sweep } from '../../src/txn/recovery.ts';

const A: TableSchema = {
  namespace: 'ns_a',
  table: 'acc',
  partitionKey: ['id'],
  clusteringKey: [],
  columns: { id: 'TEXT', balance: 'BIGINT' },
};
const B: TableSchema = { ...A, namespace: 'ns_b' };

class Crash extends Error {}

let dir: string;
let group: StorageGroup;
const opened: StorageGroup[] = [];

const config = (one: string, two: string): GroupConfig => ({
  storages: { one: { kind: 'sqlite', path: one }, two: { kind: 'sqlite', path: two } },
  namespaces: { ns_a: 'one', ns_b: 'two', coordinator: 'two' },
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-cleanup-risk-'));
  group = await openGroup(config(join(dir, 'one.sqlite'), join(dir, 'two.sqlite')));
  await group.createCoordinatorTable();
  await group.createTable(A);
  await group.createTable(B);
  await createTransactionManager({ group }).run((tx) => {
    for (const id of ['x', 'y']) {
      tx.put(A, { id }, { balance: 100 });
      tx.put(B, { id }, { balance: 100 });
    }
    return Promise.resolve();
  });
});

afterEach(async () => {
  for (const g of opened.splice(0)) await g.close();
  await group.close();
  await rm(dir, { recursive: true, force: true });
});

/** Moves 10 from A.x to `to`, and crashes right after the commit point: every record stays PREPARED. */
async function committedThenCrashed(to: TableSchema): Promise<void> {
  const tm = createTransactionManager({
    group,
    failpoints: {
      afterCommitState: () => {
        throw new Crash();
      },
    },
  });
  await expect(
    tm.run(
      async (tx) => {
        const target = to === A ? { id: 'y' } : { id: 'x' };
        tx.put(A, { id: 'x' }, { balance: Number((await tx.get(A, { id: 'x' }))?.balance) - 10 });
        tx.put(to, target, { balance: Number((await tx.get(to, target))?.balance) + 10 });
      },
      { retries: 0 },
    ),
  ).rejects.toBeInstanceOf(Crash);
}

/** A member's consistent copy (SQLite's own snapshot of the file, WAL included). */
function copy(member: 'one' | 'two', as: string): string {
  const to = join(dir, `${as}.sqlite`);
  const db = new Database(join(dir, `${member}.sqlite`));
  try {
    db.exec(`VACUUM INTO '${to}'`);
  } finally {
    db.close();
  }
  return to;
}

/** The backup: `one` copied, then `between` (cleanup or not), then `two`. Returns a restore of it. */
async function backup(between: () => Promise<unknown>): Promise<() => Promise<StorageGroup>> {
  const one = copy('one', 'backup-one');
  await between().catch(() => undefined);
  const two = copy('two', 'backup-two');
  return async () => {
    const n = opened.length;
    await copyFile(one, join(dir, `restored-one-${n}.sqlite`));
    await copyFile(two, join(dir, `restored-two-${n}.sqlite`));
    const restored = await openGroup(
      config(join(dir, `restored-one-${n}.sqlite`), join(dir, `restored-two-${n}.sqlite`)),
    );
    opened.push(restored);
    return restored;
  };
}

async function total(g: StorageGroup): Promise<number> {
  let sum = 0;
  for (const t of [A, B])
    for await (const row of g.storageFor(t.namespace).scanAll(t)) sum += Number(row.balance);
  return sum;
}

const ungated = () => cleanupCoordinator(group, { olderThanMs: 0 });
/** What the node's gate does with a finish while paused (reject mode). */
const gated = () =>
  cleanupCoordinator(group, { olderThanMs: 0, admit: () => Promise.reject(new Error('GATE_PAUSED')) });

describe('Coordinator cleanup between the copies of a non-atomic backup', () => {
  it('split transaction, ungated cleanup: the restore is consistent only thanks to committedEvidence (without it: torn)', async () => {
    await committedThenCrashed(B);
    const restore = await backup(ungated);
    const restored = await restore();
    // One copy has the transaction PREPARED, the other COMMITTED, and no Coordinator row decides it.
    expect((await restored.storageFor('ns_a').get(A, { id: 'x' }))?.tx_state).toBe(TxState.PREPARED);
    expect((await restored.storageFor('ns_b').get(B, { id: 'x' }))?.tx_state).toBe(TxState.COMMITTED);

    // Negative control: recovery without the evidence (as upstream's lazy recovery) aborts the PREPARED half.
    const prepared = await restored.storageFor('ns_a').get(A, { id: 'x' });
    expect(await resolveRecord(restored, A, { id: 'x' }, prepared!, { expiryMs: 0 })).toBe('abortedExpired');
    expect(await total(restored)).toBe(410); // torn: 10 created from nothing

    const again = await restore();
    expect(await sweep(again, { expiryMs: 0 })).toMatchObject({ rolledForward: 1, abortedExpired: 0 });
    expect(await total(again)).toBe(400);
    expect((await again.storageFor('ns_a').get(A, { id: 'x' }))?.balance).toBe(90);
  });

  it('a transaction whose records all sit in the member copied first: ungated cleanup loses it whole (consistent, so no checker sees it)', async () => {
    await committedThenCrashed(A);
    const restored = await (await backup(ungated))();
    expect(await sweep(restored, { expiryMs: 0 })).toMatchObject({
      rolledForward: 0,
      abortedExpired: 1,
      rolledBack: 1,
    });
    expect(await total(restored)).toBe(400);
    expect((await restored.storageFor('ns_a').get(A, { id: 'x' }))?.balance).toBe(100); // the committed -10 is gone
  });

  it.each([
    ['split across the members', B],
    ['all in the member copied first', A],
  ])(
    'gated cleanup (the node paused), transaction %s: nothing changes between the copies, the committed transaction is restored',
    async (_, to) => {
      await committedThenCrashed(to);
      const restored = await (await backup(gated))();
      expect(await sweep(restored, { expiryMs: 0 })).toMatchObject({ rolledForward: 2, abortedExpired: 0 });
      expect(await total(restored)).toBe(400);
      expect((await restored.storageFor('ns_a').get(A, { id: 'x' }))?.balance).toBe(90);
    },
  );
});
