/**
 * The transaction manager: Consensus Commit over a {@link StorageGroup}, in the ScalarDB on-disk format.
 * Snapshot isolation by default, serializable on request; `run` retries retryable failures.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { InternalError, TransactionError, isRetryable } from '../errors.ts';
import type {
  TableRef,
  TableSchema,
  Transaction,
  TransactionManager,
  TransactionManagerOptions,
  TransactionOptions,
} from './contract.ts';
import { DEFAULT_EXPIRY_MS } from './recovery.ts';
import { COORDINATOR_TABLE, fullTableName } from './schema.ts';
import type { ManagerContext } from './commit.ts';
import { ConsensusTransaction } from './transaction.ts';

/** Default number of retries in `run`. */
export const DEFAULT_RETRIES = 10;

/**
 * Backoff before retry `attempt` (0-based): full jitter over 5 ms · 2^attempt, capped at 500 ms. Conflicts
 * clear as soon as the other transaction finishes (milliseconds); jitter keeps two losers from meeting again.
 */
export function retryDelayMs(attempt: number): number {
  return Math.random() * Math.min(500, 5 * 2 ** attempt);
}

/**
 * Creates a manager over an open group (the caller keeps owning the group). Defaults: expiry 15 000 ms,
 * clock `Date.now`, ids `crypto.randomUUID`, no failpoints, write sets logged (when the Coordinator table
 * has `tx_write_set`).
 */
export function createTransactionManager(options: TransactionManagerOptions): TransactionManager {
  const schemas = new Map<string, TableSchema>();
  let logsWriteSet: Promise<boolean> | undefined;
  const ctx: ManagerContext = {
    group: options.group,
    expiryMs: options.expiryMs ?? DEFAULT_EXPIRY_MS,
    now: options.now ?? Date.now,
    failpoints: options.failpoints ?? {},
    async schemaOf(table: TableRef): Promise<TableSchema> {
      const name = fullTableName(table);
      const cached = schemas.get(name);
      if (cached !== undefined) return cached;
      for (const schema of await options.group.storageFor(table.namespace).listTables(table.namespace))
        schemas.set(fullTableName(schema), schema);
      const found = schemas.get(name);
      if (found === undefined) {
        throw new TransactionError('TXN_TABLE_NOT_FOUND', `Table ${name} does not exist.`, {
          hint: 'Create it first.',
          context: { table: name },
        });
      }
      return found;
    },
    logsWriteSet(): Promise<boolean> {
      if (options.writeSetLogging === false) return Promise.resolve(false);
      // A Coordinator table ScalarDB created without write-set logging has no such column (3.19 ties the two).
      logsWriteSet ??= ctx.schemaOf(COORDINATOR_TABLE).then((s) => 'tx_write_set' in s.columns);
      return logsWriteSet.catch((error: unknown) => {
        logsWriteSet = undefined;
        throw error;
      });
    },
  };
  const newId = options.idGenerator ?? randomUUID;
  let closed = false;

  const begin = (txOptions: TransactionOptions = {}): Promise<Transaction> => {
    if (closed)
      return Promise.reject(
        new InternalError('TXN_MANAGER_CLOSED', 'The transaction manager is closed.', {
          hint: 'Create a new one.',
        }),
      );
    return Promise.resolve(new ConsensusTransaction(ctx, newId(), txOptions.isolation ?? 'snapshot'));
  };

  return {
    begin,
    async run<T>(
      fn: (tx: Transaction) => Promise<T>,
      runOptions: TransactionOptions & { readonly retries?: number } = {},
    ): Promise<T> {
      const retries = runOptions.retries ?? DEFAULT_RETRIES;
      for (let attempt = 0; ; attempt += 1) {
        const tx = await begin(runOptions);
        try {
          const result = await fn(tx);
          await tx.commit();
          return result;
        } catch (error) {
          await tx.abort();
          if (!isRetryable(error) || attempt >= retries) throw error;
          await sleep(retryDelayMs(attempt));
        }
      }
    },
    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
