/**
 * Creating and seeding the bank in a group: tables (and `coordinator.state`) if absent, then accounts in a few
 * transactions, each also updating `bank_a.meta` so the expected total always matches the accounts present.
 */
import type { StorageGroup } from '../../txn/contract.ts';
import { createTransactionManager } from '../../txn/consensus-commit.ts';
import { BANK_TABLES, createAccounts } from './bank-schema.ts';

export interface SetupBankOptions {
  /** Number of accounts, ids 0..accounts-1. At least 2. */
  readonly accounts: number;
  /** Balance of every new account. Default 1000. */
  readonly initialBalance?: number;
  /** Accounts per setup transaction. Default 100. */
  readonly batchSize?: number;
}

/** Creates the bank tables and the Coordinator table in `group` (idempotent). */
export async function createBankTables(group: StorageGroup): Promise<void> {
  await group.createCoordinatorTable();
  for (const schema of BANK_TABLES) await group.createTable(schema);
}

/** Creates the tables and seeds `accounts` accounts. Returns the expected total. */
export async function setupBank(
  group: StorageGroup,
  options: SetupBankOptions,
): Promise<{ accounts: number; total: number }> {
  const initialBalance = options.initialBalance ?? 1000;
  const batchSize = options.batchSize ?? 100;
  await createBankTables(group);
  const tm = createTransactionManager({ group });
  try {
    for (let first = 0; first < options.accounts; first += batchSize) {
      const ids = Array.from({ length: Math.min(batchSize, options.accounts - first) }, (_, i) => first + i);
      await tm.run((tx) => createAccounts(tx, ids, initialBalance));
    }
  } finally {
    await tm.close();
  }
  return { accounts: options.accounts, total: options.accounts * initialBalance };
}
