/**
 * The bank's invariants, as a checker plug-in (src/checker/invariants.ts). Each failure is one violation:
 * - `meta-missing`: the meta row exists (a bank that was set up carries it);
 * - `balance-not-conserved`: the committed balances sum to the total recorded in `bank_a.meta`;
 * - `account-count-mismatch`: as many accounts exist as `bank_a.meta` says;
 * - `transfer-torn` / `transfer-mismatch`: every transfer id is in both `bank_a.transfers` and
 *   `bank_b.transfers` with the same content, or in neither (a committed transaction's writes are in every
 *   member, or none is);
 * - `acknowledged-lost` (when given the ids a workload saw committed): each of them is present.
 */
import type { AppInvariant, InvariantInput, InvariantResult, Violation } from '../../checker/invariants.ts';
import type { Row } from '../../txn/contract.ts';
import {
  BANK_A,
  BANK_B,
  BANK_TABLES,
  META_TABLE,
  accountsRef,
  toBigInt,
  toInt,
  transfersRef,
} from './bank-schema.ts';

type Found = Omit<Violation, 'invariant'>;

export const bankInvariants: AppInvariant = Object.freeze({
  name: 'bank',
  tables: BANK_TABLES.map((t) => ({ namespace: t.namespace, table: t.table })),
  schemas: BANK_TABLES,
  check: checkBank,
});

function checkBank(input: InvariantInput): InvariantResult {
  const found: Found[] = [];
  const accountRows = [...input.view(accountsRef(BANK_A)), ...input.view(accountsRef(BANK_B))];
  const total = accountRows.reduce((sum, r) => sum + toBigInt(r.balance), 0n);
  const meta = input.view(META_TABLE).find((r) => r.name === 'bank');
  let expected: { expectedTotal?: number; expectedAccounts?: number } = {};
  if (meta === undefined) {
    found.push({
      kind: 'meta-missing',
      detail: 'bank_a.meta has no row "bank": was the bank set up (stillpoint workload bank --setup)?',
      namespace: BANK_A,
      table: 'meta',
      key: 'bank',
    });
  } else {
    const expectedTotal = toBigInt(meta.total);
    const expectedAccounts = toInt(meta.accounts);
    expected = { expectedTotal: Number(expectedTotal), expectedAccounts };
    if (total !== expectedTotal) {
      found.push({
        kind: 'balance-not-conserved',
        detail: `balances sum to ${total}, expected ${expectedTotal} (difference ${total - expectedTotal})`,
      });
    }
    if (accountRows.length !== expectedAccounts) {
      found.push({
        kind: 'account-count-mismatch',
        detail: `${accountRows.length} accounts exist, bank_a.meta says ${expectedAccounts}`,
      });
    }
  }
  const transfers = checkTransfers(input.view(transfersRef(BANK_A)), input.view(transfersRef(BANK_B)), found);
  for (const id of input.acknowledged ?? []) {
    if (!transfers.has(id))
      found.push({
        kind: 'acknowledged-lost',
        detail: `transfer ${id} was acknowledged to a client but is in neither namespace`,
        key: id,
      });
  }
  return {
    violations: found,
    stats: {
      accounts: accountRows.length,
      totalBalance: Number(total),
      ...expected,
      transfers: transfers.size,
    },
  };
}

function checkTransfers(aRows: readonly Row[], bRows: readonly Row[], found: Found[]): Set<string> {
  const a = new Map(aRows.map((r) => [String(r.transfer_id), r]));
  const b = new Map(bRows.map((r) => [String(r.transfer_id), r]));
  const all = new Set([...a.keys(), ...b.keys()]);
  for (const id of all) {
    const ra = a.get(id);
    const rb = b.get(id);
    if (ra === undefined || rb === undefined) {
      const [has, lacks] = ra === undefined ? [BANK_B, BANK_A] : [BANK_A, BANK_B];
      found.push({
        kind: 'transfer-torn',
        detail: `transfer ${id} is in ${has}.transfers but not in ${lacks}.transfers`,
        namespace: lacks,
        table: 'transfers',
        key: id,
      });
    } else if (signature(ra) !== signature(rb)) {
      found.push({
        kind: 'transfer-mismatch',
        detail: `transfer ${id} differs: ${BANK_A} has ${signature(ra)}, ${BANK_B} has ${signature(rb)}`,
        table: 'transfers',
        key: id,
      });
    }
  }
  return all;
}

function signature(r: Row): string {
  return `${toInt(r.from_account)}→${toInt(r.to_account)}:${toBigInt(r.amount)}`;
}
