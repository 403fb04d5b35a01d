/**
 * The checker on SQLite groups whose records are written RAW (through Storage.mutate, bypassing transactions),
 * so each test builds exactly the state it means: a consistent bank, then one broken thing at a time (negative
 * controls), and unfinished records that recovery resolves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkGroup } from '../../src/checker/check.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import type { GroupConfig, Row, StorageGroup, TableRef } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { COORDINATOR_TABLE } from '../../src/txn/schema.ts';
import { accountsRef, metaRef, namespaceOf, transfersRef } from '../../src/lab/bank/bank-schema.ts';
import { createBankTables } from '../../src/lab/bank/bank-setup.ts';

let dir: string;
let group: StorageGroup;
let config: GroupConfig;
const OLD = Date.now() - 3_600_000;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-checker-'));
  config = {
    storages: {
      a: { kind: 'sqlite', path: join(dir, 'a.db') },
      b: { kind: 'sqlite', path: join(dir, 'b.db') },
      c: { kind: 'sqlite', path: join(dir, 'c.db') },
    },
    namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'c' },
  };
  group = await openGroup(config);
  await createBankTables(group);
});

afterEach(async () => {
  await group.close();
  await rm(dir, { recursive: true, force: true });
});

const committed = (txId: string): Row => ({
  tx_id: txId,
  tx_state: 3,
  tx_version: 1,
  tx_prepared_at: OLD,
  tx_committed_at: OLD,
});

async function put(table: TableRef, key: Row, values: Row): Promise<void> {
  await group.storageFor(table.namespace).mutate([{ kind: 'put', table, key, values }]);
}

async function decide(txId: string, state: 3 | 4): Promise<void> {
  await put(COORDINATOR_TABLE, { tx_id: txId }, { tx_state: state, tx_created_at: OLD });
}

/** 4 accounts of 100 (total 400) and one transfer t1 of 10 from 0 to 1, all committed by tx "seed"/"t1". */
async function seedConsistent(): Promise<void> {
  await decide('seed', 3);
  for (const id of [0, 1, 2, 3])
    await put(accountsRef(namespaceOf(id)), { account_id: id }, { balance: 100, ...committed('seed') });
  await put(metaRef, { name: 'bank' }, { accounts: 4, total: 400, ...committed('seed') });
  await decide('t1', 3);
  await put(accountsRef('bank_a'), { account_id: 0 }, { balance: 90, ...committed('t1'), tx_version: 2 });
  await put(accountsRef('bank_b'), { account_id: 1 }, { balance: 110, ...committed('t1'), tx_version: 2 });
  for (const ns of ['bank_a', 'bank_b'])
    await put(
      transfersRef(ns),
      { transfer_id: 't1' },
      { from_account: 0, to_account: 1, amount: 10, ...committed('t1') },
    );
}

const kinds = (report: Awaited<ReturnType<typeof checkGroup>>): string[] =>
  report.violations.map((v) => v.kind).sort();

describe('checkGroup', () => {
  it('passes a consistent bank and reports its figures', async () => {
    await seedConsistent();
    const report = await checkGroup(group, { invariants: [bankInvariants], acknowledged: ['t1'] });
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.stats).toMatchObject({
      accounts: 4,
      totalBalance: 400,
      expectedTotal: 400,
      transfers: 1,
      unfinished: 0,
    });
    expect(report.stats.coordinator).toEqual({ committed: 2, aborted: 0 });
  });

  it('opens and closes the group itself when given a GroupConfig', async () => {
    await seedConsistent();
    const report = await checkGroup(config, { invariants: [bankInvariants] });
    expect(report.ok).toBe(true);
    expect(report.stats.records).toBeGreaterThan(8);
  });

  it('NEGATIVE: a transfer applied in one storage only is torn (and money is not conserved)', async () => {
    await seedConsistent();
    await decide('t2', 3);
    await put(accountsRef('bank_b'), { account_id: 3 }, { balance: 95, ...committed('t2'), tx_version: 2 });
    await put(
      transfersRef('bank_b'),
      { transfer_id: 't2' },
      { from_account: 3, to_account: 2, amount: 5, ...committed('t2') },
    );
    const report = await checkGroup(group, { invariants: [bankInvariants] });
    expect(report.ok).toBe(false);
    expect(kinds(report)).toEqual(['balance-not-conserved', 'transfer-torn']);
    expect(report.violations.find((v) => v.kind === 'transfer-torn')).toMatchObject({
      namespace: 'bank_a',
      key: 't2',
    });
  });

  it('NEGATIVE: a balance changed raw breaks conservation', async () => {
    await seedConsistent();
    await put(accountsRef('bank_a'), { account_id: 2 }, { balance: 101 });
    const report = await checkGroup(group, { invariants: [bankInvariants] });
    expect(kinds(report)).toEqual(['balance-not-conserved']);
    expect(report.stats.totalBalance).toBe(401);
  });

  it('NEGATIVE: a COMMITTED record written by a transaction the Coordinator says ABORTED is caught', async () => {
    await seedConsistent();
    await decide('bad', 4);
    await put(accountsRef('bank_b'), { account_id: 3 }, { ...committed('bad'), tx_version: 2 });
    const report = await checkGroup(group, { invariants: [bankInvariants] });
    expect(kinds(report)).toEqual(['committed-by-aborted']);
    expect(report.violations[0]).toMatchObject({ namespace: 'bank_b', table: 'accounts', key: '3' });
  });

  it('NEGATIVE: the two copies of a transfer disagree', async () => {
    await seedConsistent();
    await put(transfersRef('bank_b'), { transfer_id: 't1' }, { amount: 11 });
    expect(kinds(await checkGroup(group, { invariants: [bankInvariants] }))).toEqual(['transfer-mismatch']);
  });

  it('NEGATIVE: a missing meta row and a lost acknowledged transfer are reported', async () => {
    await decide('seed', 3);
    await put(accountsRef('bank_a'), { account_id: 0 }, { balance: 100, ...committed('seed') });
    const report = await checkGroup(group, { invariants: [bankInvariants], acknowledged: ['gone'] });
    expect(kinds(report)).toEqual(['acknowledged-lost', 'meta-missing']);
  });

  it('reads unfinished records as lazy recovery would, and the sweep resolves them', async () => {
    await seedConsistent();
    // t3: committed in the Coordinator, records still PREPARED (crash mid commit-records) → rolls forward.
    await decide('t3', 3);
    const prepared = (txId: string, before: Row): Row => ({
      tx_id: txId,
      tx_state: 1,
      tx_version: 3,
      tx_prepared_at: OLD,
      ...before,
    });
    await put(
      accountsRef('bank_a'),
      { account_id: 0 },
      {
        balance: 80,
        ...prepared('t3', {
          before_balance: 90,
          before_tx_id: 't1',
          before_tx_state: 3,
          before_tx_version: 2,
        }),
      },
    );
    await put(
      accountsRef('bank_b'),
      { account_id: 1 },
      {
        balance: 120,
        ...prepared('t3', {
          before_balance: 110,
          before_tx_id: 't1',
          before_tx_state: 3,
          before_tx_version: 2,
        }),
      },
    );
    for (const ns of ['bank_a', 'bank_b'])
      await put(
        transfersRef(ns),
        { transfer_id: 't3' },
        { from_account: 0, to_account: 1, amount: 10, ...prepared('t3', {}) },
      );
    // t4: prepared in bank_a only, no decision, long expired (crash after a partial prepare) → rolls back.
    await put(
      accountsRef('bank_a'),
      { account_id: 2 },
      {
        balance: 50,
        ...prepared('t4', {
          before_balance: 100,
          before_tx_id: 'seed',
          before_tx_state: 3,
          before_tx_version: 1,
        }),
      },
    );
    await put(
      transfersRef('bank_a'),
      { transfer_id: 't4' },
      { from_account: 2, to_account: 3, amount: 50, ...prepared('t4', {}) },
    );

    const before = await checkGroup(group, { invariants: [bankInvariants], acknowledged: ['t1', 't3'] });
    expect(before.violations).toEqual([]);
    expect(before.stats).toMatchObject({ unfinished: 6, transfers: 2, totalBalance: 400 });

    const swept = await checkGroup(group, {
      invariants: [bankInvariants],
      sweep: true,
      expiryMs: 1_000,
      acknowledged: ['t1', 't3'],
    });
    expect(swept.violations).toEqual([]);
    expect(swept.stats.unfinished).toBe(0);
    expect(swept.stats.sweep).toMatchObject({ rolledForward: 4, unresolved: 0 });
    expect(swept.stats).toMatchObject({ transfers: 2, totalBalance: 400 });
    expect(
      (swept.stats.sweep?.rolledBack ?? 0) + (swept.stats.sweep?.abortedExpired ?? 0),
    ).toBeGreaterThanOrEqual(2);
  });

  it('NEGATIVE: an undecided, unexpired record left after the sweep is reported', async () => {
    await seedConsistent();
    await put(
      transfersRef('bank_a'),
      { transfer_id: 't5' },
      {
        from_account: 0,
        to_account: 1,
        amount: 1,
        tx_id: 't5',
        tx_state: 1,
        tx_version: 1,
        tx_prepared_at: Date.now(),
      },
    );
    const report = await checkGroup(group, {
      invariants: [bankInvariants],
      sweep: true,
      expiryMs: 3_600_000,
    });
    expect(kinds(report)).toEqual(['unresolved-record']);
    expect(report.violations[0]).toMatchObject({ namespace: 'bank_a', table: 'transfers', key: 't5' });
  });

  it('the core runs without plug-ins: a consistent bank passes, no bank figures are reported', async () => {
    await seedConsistent();
    const report = await checkGroup(group);
    expect(report.ok).toBe(true);
    expect(report.stats.invariants).toEqual([]);
    expect(report.stats.totalBalance).toBeUndefined();
  });

  it('NEGATIVE (plug-in): a broken bank total is caught by the bank plug-in, not by the core', async () => {
    await seedConsistent();
    await put(accountsRef('bank_a'), { account_id: 2 }, { balance: 150, ...committed('seed') });
    expect((await checkGroup(group)).ok).toBe(true);
    const report = await checkGroup(group, { invariants: [bankInvariants] });
    expect(report.violations).toEqual([
      expect.objectContaining({ kind: 'balance-not-conserved', invariant: 'bank' }),
    ]);
  });

  it('NEGATIVE (core): a COMMITTED record of an aborted transaction is caught without any plug-in', async () => {
    await seedConsistent();
    await decide('bad', 4);
    await put(accountsRef('bank_b'), { account_id: 3 }, { ...committed('bad'), tx_version: 2 });
    const report = await checkGroup(group);
    expect(report.violations).toEqual([
      expect.objectContaining({ kind: 'committed-by-aborted', namespace: 'bank_b' }),
    ]);
    expect(report.violations[0]?.invariant).toBeUndefined();
  });

  it('NEGATIVE (core): a mapped namespace that holds no table is reported (a misnamed restore would pass empty)', async () => {
    await seedConsistent();
    const report = await checkGroup({ ...config, namespaces: { ...config.namespaces, bank_c: 'b' } });
    expect(kinds(report)).toEqual(['namespace-missing']);
  });
});

describe('namespaces under other physical names (GroupConfig.renames)', () => {
  it('reads a namespace and the table catalog from renamed SQLite tables', async () => {
    await seedConsistent();
    await group.close();
    // Rename bank_b's tables and the catalog in b.db, as a restore next to the source would name them.
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(dir, 'b.db'));
    for (const t of ['accounts', 'transfers'])
      db.exec(`ALTER TABLE "bank_b$${t}" RENAME TO "bank_b_r_x$${t}"`);
    db.exec('ALTER TABLE "scalardb$metadata" RENAME TO "scalardb_r_x$metadata"');
    db.close();
    const plain = await checkGroup(config, { invariants: [bankInvariants] });
    expect(kinds(plain)).toContain('namespace-missing');
    const renamed = { ...config, renames: { b: { bank_b: 'bank_b_r_x', scalardb: 'scalardb_r_x' } } };
    const report = await checkGroup(renamed, { invariants: [bankInvariants] });
    expect(report.violations).toEqual([]);
    expect(report.stats).toMatchObject({ accounts: 4, totalBalance: 400, transfers: 1 });
    group = await openGroup(config);
  });
});
