/**
 * Crash injection at every step boundary of a bank transfer (the transaction manager's failpoints: after
 * prepare, after commit-state, mid commit-records): the crashed transfer leaves unfinished records; the
 * checker reads them as lazy recovery would, the sweep resolves them, and every invariant holds — with the
 * transfer present exactly when the Coordinator says it committed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkGroup } from '../../src/checker/check.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import type { Failpoints, StorageGroup } from '../../src/txn/contract.ts';
import { createTransactionManager } from '../../src/txn/consensus-commit.ts';
import { openGroup } from '../../src/txn/group.ts';
import { transfer } from '../../src/lab/bank/bank-schema.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';

let dir: string;
let group: StorageGroup;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-crash-'));
  group = await openGroup({
    storages: {
      a: { kind: 'sqlite', path: join(dir, 'a.db') },
      b: { kind: 'sqlite', path: join(dir, 'b.db') },
      c: { kind: 'sqlite', path: join(dir, 'c.db') },
    },
    namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'c' },
  });
  await setupBank(group, { accounts: 4, initialBalance: 100 });
});

afterEach(async () => {
  await group.close();
  await rm(dir, { recursive: true, force: true });
});

class Crash extends Error {}
const crash = (): never => {
  throw new Crash('injected crash');
};

const cases: ReadonlyArray<{ point: keyof Failpoints; committed: boolean }> = [
  { point: 'afterPrepare', committed: false },
  { point: 'afterCommitState', committed: true },
  { point: 'midCommitRecords', committed: true },
];

describe('crash at a step boundary, then sweep and check', () => {
  for (const { point, committed } of cases) {
    it(`${point}: the transfer is ${committed ? 'rolled forward' : 'rolled back'} and the bank is consistent`, async () => {
      const tm = createTransactionManager({ group, failpoints: { [point]: crash } });
      const tx = await tm.begin();
      await transfer(tx, { transferId: 'crashed', from: 0, to: 1, amount: 25 });
      await expect(tx.commit()).rejects.toBeInstanceOf(Crash);
      await tm.close();

      const before = await checkGroup(group, { invariants: [bankInvariants] });
      expect(before.violations).toEqual([]);
      expect(before.stats.unfinished).toBeGreaterThan(0);

      const after = await checkGroup(group, {
        invariants: [bankInvariants],
        sweep: true,
        expiryMs: 0,
        ...(committed ? { acknowledged: ['crashed'] } : {}),
      });
      expect(after.violations).toEqual([]);
      expect(after.stats).toMatchObject({ unfinished: 0, transfers: committed ? 1 : 0, totalBalance: 400 });
    });
  }
});
