/**
 * Issue 13 item 4, shared by the per-storage files: the on-disk format in both directions against REAL ScalarDB
 * Consensus Commit (BankDriver). ScalarDB writes (and crashes mid-commit) → stillpoint reads, checks and sweeps;
 * stillpoint writes (and crashes mid-commit) → ScalarDB reads and lazily recovers; both must see the same
 * bank. Negative controls flip a `tx_state` code in the raw records and show each side notices.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkGroup } from '../../src/checker/check.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { committedView } from '../../src/checker/records.ts';
import { createTransactionManager } from '../../src/txn/consensus-commit.ts';
import type { GroupConfig, Row } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { readCoordinatorStates } from '../../src/txn/recovery.ts';
import { COORDINATOR_NAMESPACE } from '../../src/txn/schema.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';
import { transfer } from '../../src/lab/bank/bank-schema.ts';
import { runDriver, VERSIONS, type JsonLine } from './harness.ts';

/** One fresh set of databases on a storage, reachable by both sides. */
export interface FormatStore {
  /** ScalarDB properties (JDBC contact point and credentials) for these databases. */
  readonly properties: Record<string, string>;
  /** The same databases as a stillpoint group (every namespace in one storage). */
  readonly group: GroupConfig;
  /** A physical table name, quoted for this store's SQL. */
  table(namespace: string, table: string): string;
  /** Raw SQL against these databases (for the negative controls and raw inspections). */
  sql(statement: string): Promise<Row[]>;
}

export interface StoreFactory {
  readonly name: string;
  /** A fresh, empty set of databases (each case gets its own). */
  fresh(label: string): Promise<FormatStore>;
  /** Directory for the properties files. */
  readonly dir: () => string;
}

/** A bank as a reader sees it: balances, transfer ids per namespace, the meta row. */
export interface BankView {
  readonly balances: Record<number, number>;
  readonly transfers: { readonly bank_a: string[]; readonly bank_b: string[] };
  readonly meta?: { accounts: number; total: number };
}

export async function propertiesFile(
  dir: string,
  label: string,
  properties: Record<string, string>,
  extra: Record<string, string> = {},
): Promise<string> {
  const file = join(dir, `${label}.properties`);
  const all = { 'scalar.db.transaction_manager': 'consensus-commit', ...properties, ...extra };
  await writeFile(
    file,
    Object.entries(all)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
    { mode: 0o600 },
  );
  return file;
}

/** ScalarDB's view, from BankDriver's `read` lines. */
export function viewFromLines(lines: readonly JsonLine[]): BankView {
  const view = {
    balances: {} as Record<number, number>,
    transfers: { bank_a: [] as string[], bank_b: [] as string[] },
    meta: undefined as BankView['meta'],
  };
  for (const l of lines) {
    if (typeof l.account === 'number') view.balances[l.account] = Number(l.balance);
    if (typeof l.transfer === 'string') view.transfers[l.ns as 'bank_a' | 'bank_b'].push(l.transfer);
    if (l.meta === 'bank') view.meta = { accounts: Number(l.accounts), total: Number(l.total) };
  }
  view.transfers.bank_a.sort();
  view.transfers.bank_b.sort();
  return view;
}

/** stillpoint's view WITHOUT writing anything: raw records judged by the checker's committed-view rules. */
export async function stillpointView(config: GroupConfig): Promise<BankView> {
  const group = await openGroup(config);
  try {
    const decisions = await readCoordinatorStates(group);
    const view = {
      balances: {} as Record<number, number>,
      transfers: { bank_a: [] as string[], bank_b: [] as string[] },
      meta: undefined as BankView['meta'],
    };
    for (const schema of await group.tables()) {
      if (schema.namespace === COORDINATOR_NAMESPACE) continue;
      for await (const raw of group.storageFor(schema.namespace).scanAll(schema)) {
        const row = committedView(raw, schema, decisions);
        if (row === undefined) continue;
        if (schema.table === 'accounts') view.balances[Number(row.account_id)] = Number(row.balance);
        if (schema.table === 'transfers')
          view.transfers[schema.namespace as 'bank_a' | 'bank_b'].push(String(row.transfer_id));
        if (schema.table === 'meta') view.meta = { accounts: Number(row.accounts), total: Number(row.total) };
      }
    }
    view.transfers.bank_a.sort();
    view.transfers.bank_b.sort();
    return view;
  } finally {
    await group.close();
  }
}

const sum = (view: BankView): number => Object.values(view.balances).reduce((a, b) => a + b, 0);

/** stillpoint's transaction layer writes the bank, then leaves one transfer COMMITTED-but-PREPARED and one PREPARED. */
async function stillpointWrites(config: GroupConfig): Promise<void> {
  const group = await openGroup(config);
  try {
    await setupBank(group, { accounts: 6, initialBalance: 100 });
    const tm = createTransactionManager({ group });
    for (let i = 0; i < 5; i++)
      await tm.run((tx) => transfer(tx, { transferId: `sp-${i}`, from: i, to: (i + 1) % 6, amount: 10 + i }));
    await tm.close();
    // Written with a clock a minute behind, so real ScalarDB (expiry 15 s from tx_prepared_at) may abort the undecided one now.
    const crash = (step: 'afterPrepare' | 'afterCommitState') =>
      createTransactionManager({
        group,
        now: () => Date.now() - 60_000,
        failpoints: { [step]: () => Promise.reject(new Error(`crash ${step}`)) },
      });
    for (const [step, id, from, to] of [
      ['afterCommitState', 'sp-committed', 0, 1],
      ['afterPrepare', 'sp-prepared', 2, 3],
    ] as const) {
      const tm2 = crash(step);
      await expect(
        tm2.run((tx) => transfer(tx, { transferId: id, from, to, amount: 7 }), { retries: 0 }),
      ).rejects.toThrow(`crash ${step}`);
      await tm2.close();
    }
  } finally {
    await group.close();
  }
}

const SPENT = ['sp-0', 'sp-1', 'sp-2', 'sp-3', 'sp-4', 'sp-committed'];

export function formatSuite(factory: StoreFactory): void {
  describe(`on-disk format with real ScalarDB ${VERSIONS.scalardb} on ${factory.name}`, () => {
    it('ScalarDB writes (one 2PC transaction crashed after the Coordinator committed, one after prepare): stillpoint reads, checks, sweeps; ScalarDB then reads the same bank', async () => {
      const store = await factory.fresh('sdb-writes');
      const props = await propertiesFile(factory.dir(), `sdb-writes-${factory.name}`, store.properties);
      const written = await runDriver(
        'BankDriver',
        [props, 'setup:6:100', 'transfers:5:7', 'crash-committed:x-committed:0:1:7'],
        { allowFailure: true },
      );
      expect(written.code).toBe(137);
      expect(written.lines.filter((l) => l.ok === true).map((l) => l.op)).toEqual(['setup', 'transfers']);
      const committedTx = String(written.lines.find((l) => l.halting === true)?.txId);
      const crashed = await runDriver('BankDriver', [props, 'crash-prepared:x-prepared:2:3:9'], {
        allowFailure: true,
      });
      expect(crashed.code).toBe(137);
      const preparedTx = String(crashed.lines.find((l) => l.halting === true)?.txId);

      // Read-only first: the committed view and the checker (no sweep) already see the right bank.
      const decisions = await coordinatorRows(store);
      expect(decisions.get(committedTx)).toBe(3);
      expect(decisions.has(preparedTx)).toBe(false);
      const before = await stillpointView(store.group);
      expect(sum(before)).toBe(600);
      expect(before.transfers.bank_a).toContain('x-committed');
      expect(before.transfers.bank_b).toContain('x-committed');
      expect([...before.transfers.bank_a, ...before.transfers.bank_b]).not.toContain('x-prepared');
      const unswept = await checkGroup(store.group, { invariants: [bankInvariants] });
      expect(unswept.violations).toEqual([]);
      expect(unswept.stats.unfinished).toBe(6); // x-committed: account 1 + bank_b row; x-prepared: accounts 2, 3 + two rows
      // The sweep rolls x-committed forward and aborts x-prepared (a restored copy has no live writer).
      const swept = await checkGroup(store.group, { invariants: [bankInvariants], sweep: true, expiryMs: 0 });
      expect(swept.violations).toEqual([]);
      expect(swept.stats).toMatchObject({
        accounts: 6,
        totalBalance: 600,
        expectedTotal: 600,
        transfers: 6,
        unfinished: 0,
      });
      // The first record of x-prepared decides ABORTED (abortedExpired); its other three follow that decision.
      expect(swept.stats.sweep).toMatchObject({
        rolledForward: 2,
        abortedExpired: 1,
        rolledBack: 3,
        unresolved: 0,
      });
      expect(await stillpointView(store.group)).toEqual(before);
      // Real ScalarDB reads what stillpoint recovered, and sees the same bank.
      const read = await runDriver('BankDriver', [props, 'read']);
      expect(viewFromLines(read.lines)).toEqual(before);
    });

    it('stillpoint writes (one transaction crashed after the commit state, one after prepare): real ScalarDB reads and lazily recovers to the same bank', async () => {
      const store = await factory.fresh('sp-writes');
      await stillpointWrites(store.group);
      const expected = await stillpointView(store.group);
      expect(sum(expected)).toBe(600);
      expect(expected.transfers.bank_a).toEqual([...SPENT].sort());
      expect(expected.transfers.bank_b).toEqual([...SPENT].sort());
      const props = await propertiesFile(factory.dir(), `sp-writes-${factory.name}`, store.properties);
      const read = await runDriver('BankDriver', [props, 'read']);
      expect(viewFromLines(read.lines)).toEqual(expected);
      // ScalarDB decided the expired, undecided transaction itself: an ABORTED row in OUR Coordinator table.
      const states = [...(await coordinatorRows(store)).values()];
      expect(states.filter((s) => s === 4).length).toBe(1);
      // And stillpoint agrees with whatever ScalarDB rewrote.
      const report = await checkGroup(store.group, {
        invariants: [bankInvariants],
        sweep: true,
        expiryMs: 0,
      });
      expect(report.violations).toEqual([]);
      expect(await stillpointView(store.group)).toEqual(expected);
    });

    it('negative controls: a flipped tx_state code (PREPARED → COMMITTED on one half) is caught from either side', async () => {
      // ScalarDB wrote, the code is flipped: stillpoint's checker must refuse the bank.
      const a = await factory.fresh('neg-sdb');
      const propsA = await propertiesFile(factory.dir(), `neg-sdb-${factory.name}`, a.properties);
      await runDriver('BankDriver', [propsA, 'setup:6:100', 'crash-prepared:x-flip:2:3:9'], {
        allowFailure: true,
      });
      await a.sql(`UPDATE ${a.table('bank_a', 'accounts')} SET tx_state = 3 WHERE tx_state = 1`);
      await a.sql(`UPDATE ${a.table('bank_a', 'transfers')} SET tx_state = 3 WHERE tx_state = 1`);
      // Judged read-only, as a restored copy is before any repair (the sweep would take the flipped record as
      // evidence of a commit and complete the transfer: a consistent bank, so no longer a control).
      const report = await checkGroup(a.group, { invariants: [bankInvariants] });
      expect(new Set(report.violations.map((v) => v.kind))).toEqual(
        new Set(['balance-not-conserved', 'transfer-torn']),
      );

      // stillpoint wrote, the code is flipped: ScalarDB's view breaks the bank's invariants, which the harness sees.
      const b = await factory.fresh('neg-sp');
      await stillpointWrites(b.group);
      await b.sql(
        `UPDATE ${b.table('bank_a', 'accounts')} SET tx_state = 3 WHERE tx_state = 1 AND account_id = 2`,
      );
      const propsB = await propertiesFile(factory.dir(), `neg-sp-${factory.name}`, b.properties);
      const view = viewFromLines((await runDriver('BankDriver', [propsB, 'read'])).lines);
      expect(sum(view)).not.toBe(view.meta?.total);
      expect(sum(view)).toBe(593); // account 2's un-committed debit of 7 became visible
    });
  });
}

async function coordinatorRows(store: FormatStore): Promise<Map<string, number>> {
  const rows = await store.sql(`SELECT tx_id, tx_state FROM ${store.table('coordinator', 'state')}`);
  return new Map(rows.map((r) => [String(r.tx_id), Number(r.tx_state)]));
}
