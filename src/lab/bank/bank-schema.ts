/**
 * The bank: the workload whose invariants prove a set of databases consistent.
 *
 * Accounts are split across two namespaces that may live in two different storages: even ids in `bank_a`,
 * odd ids in `bank_b`. A transfer moves money between two accounts and writes a row carrying its transfer id
 * into BOTH `bank_a.transfers` and `bank_b.transfers` in the same transaction, so atomicity across storages
 * is checkable row by row. `bank_a.meta` holds the expected total, updated in the same transaction that
 * creates accounts, so a restored copy carries its own expectation.
 */
import { ConfigError, TransactionError } from '../../errors.ts';
import type { Key, Row, TableRef, TableSchema, Transaction, Value } from '../../txn/contract.ts';

export const BANK_A = 'bank_a';
export const BANK_B = 'bank_b';
export const BANK_NAMESPACES = [BANK_A, BANK_B] as const;

const accounts = (namespace: string): TableSchema => ({
  namespace,
  table: 'accounts',
  partitionKey: ['account_id'],
  clusteringKey: [],
  columns: { account_id: 'INT', balance: 'BIGINT' },
});
const transfers = (namespace: string): TableSchema => ({
  namespace,
  table: 'transfers',
  partitionKey: ['transfer_id'],
  clusteringKey: [],
  columns: { transfer_id: 'TEXT', from_account: 'INT', to_account: 'INT', amount: 'BIGINT' },
});

/** `bank_a.meta`: one row (`name = 'bank'`) with the number of accounts and the total every balance must sum to. */
export const META_TABLE: TableSchema = {
  namespace: BANK_A,
  table: 'meta',
  partitionKey: ['name'],
  clusteringKey: [],
  columns: { name: 'TEXT', accounts: 'INT', total: 'BIGINT' },
};
export const META_KEY: Key = { name: 'bank' };

/** Every bank table, in creation order. */
export const BANK_TABLES: readonly TableSchema[] = [
  accounts(BANK_A),
  accounts(BANK_B),
  transfers(BANK_A),
  transfers(BANK_B),
  META_TABLE,
];

export const accountsRef = (namespace: string): TableRef => ({ namespace, table: 'accounts' });
export const transfersRef = (namespace: string): TableRef => ({ namespace, table: 'transfers' });
export const metaRef: TableRef = { namespace: BANK_A, table: 'meta' };

/** Which namespace holds an account: even ids in `bank_a`, odd ids in `bank_b`. */
export function namespaceOf(accountId: number): string {
  return accountId % 2 === 0 ? BANK_A : BANK_B;
}

/** A BIGINT/INT column value as a bigint (drivers return number, bigint or a decimal string). */
export function toBigInt(value: Value | undefined): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return 0n;
}

/** An INT column value as a number. */
export function toInt(value: Value | undefined): number {
  return Number(toBigInt(value));
}

export interface TransferRequest {
  readonly transferId: string;
  readonly from: number;
  readonly to: number;
  readonly amount: number;
}

/** Outcome of {@link transfer}: `duplicate` when that transfer id was already applied (an idempotent retry). */
export type TransferOutcome = 'applied' | 'duplicate';

/**
 * Applies one transfer inside `tx`: both balances and the transfer row in both namespaces.
 * Idempotent by transfer id, so a client may retry a call whose outcome it did not learn.
 * Throws TransactionError `BANK_NO_SUCH_ACCOUNT` when an account is missing.
 */
export async function transfer(tx: Transaction, request: TransferRequest): Promise<TransferOutcome> {
  const { transferId, from, to, amount } = request;
  if (from === to)
    throw new ConfigError(
      'BANK_SAME_ACCOUNT',
      `transfer ${transferId} moves money from account ${from} to itself.`,
      { hint: 'Pick two different accounts.' },
    );
  const [existingA, existingB, fromRow, toRow] = await Promise.all([
    tx.get(transfersRef(BANK_A), { transfer_id: transferId }),
    tx.get(transfersRef(BANK_B), { transfer_id: transferId }),
    tx.get(accountsRef(namespaceOf(from)), { account_id: from }),
    tx.get(accountsRef(namespaceOf(to)), { account_id: to }),
  ]);
  if (existingA !== undefined || existingB !== undefined) return 'duplicate';
  for (const [id, row] of [
    [from, fromRow],
    [to, toRow],
  ] as const) {
    if (row === undefined) {
      throw new TransactionError('BANK_NO_SUCH_ACCOUNT', `account ${id} does not exist.`, {
        context: { key: String(id) },
        hint: 'Create the accounts first (stillpoint workload bank --setup).',
      });
    }
  }
  const delta = BigInt(amount);
  tx.put(
    accountsRef(namespaceOf(from)),
    { account_id: from },
    { balance: Number(toBigInt(fromRow?.balance) - delta) },
  );
  tx.put(
    accountsRef(namespaceOf(to)),
    { account_id: to },
    { balance: Number(toBigInt(toRow?.balance) + delta) },
  );
  const row: Row = { from_account: from, to_account: to, amount };
  tx.put(transfersRef(BANK_A), { transfer_id: transferId }, row);
  tx.put(transfersRef(BANK_B), { transfer_id: transferId }, row);
  return 'applied';
}

/**
 * Creates accounts `ids` with `initialBalance` each inside `tx`, and adds them to the meta row in the same
 * transaction. Throws TransactionError `BANK_ACCOUNT_EXISTS` when one already exists.
 */
export async function createAccounts(
  tx: Transaction,
  ids: readonly number[],
  initialBalance: number,
): Promise<void> {
  const [meta, ...existing] = await Promise.all([
    tx.get(metaRef, META_KEY),
    ...ids.map((id) => tx.get(accountsRef(namespaceOf(id)), { account_id: id })),
  ]);
  const taken = ids.filter((_, i) => existing[i] !== undefined);
  if (taken.length > 0) {
    throw new TransactionError(
      'BANK_ACCOUNT_EXISTS',
      `account(s) ${taken.slice(0, 5).join(', ')} already exist.`,
      { hint: 'Use new account ids, or check the existing bank instead of setting it up again.' },
    );
  }
  for (const id of ids) tx.put(accountsRef(namespaceOf(id)), { account_id: id }, { balance: initialBalance });
  tx.put(metaRef, META_KEY, {
    accounts: toInt(meta?.accounts) + ids.length,
    total: Number(toBigInt(meta?.total) + BigInt(initialBalance) * BigInt(ids.length)),
  });
}

/** Reads balances inside `tx`; a missing account is absent from the result. */
export async function getBalances(tx: Transaction, ids: readonly number[]): Promise<Map<number, bigint>> {
  const rows = await Promise.all(ids.map((id) => tx.get(accountsRef(namespaceOf(id)), { account_id: id })));
  const out = new Map<number, bigint>();
  rows.forEach((row, i) => {
    const id = ids[i];
    if (row !== undefined && id !== undefined) out.set(id, toBigInt(row.balance));
  });
  return out;
}
