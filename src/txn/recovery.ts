/**
 * Recovery of unfinished records. Lazy: a reader meeting a PREPARED/DELETED record asks the Coordinator
 * and rolls it forward or back, or — if the writer has been silent longer than the expiry — decides
 * ABORTED itself with the same put-if-not-exists a committer uses (one of the two wins). Eager: the
 * {@link sweep} does that for every record of every table of a group, e.g. after a restore.
 */
import { InternalError, TransactionError, isRetryable } from '../errors.ts';
import type { Key, Row, StorageGroup, SweepReport, TableRef, TableSchema } from './contract.ts';
import { TxState } from './contract.ts';
import { isPending, rollBackMutation, rollForwardMutation } from './records.ts';
import { COORDINATOR_NAMESPACE, COORDINATOR_TABLE, keyColumns } from './schema.ts';

/** Default expiry of an undecided transaction (ms since tx_prepared_at), as in ScalarDB. */
export const DEFAULT_EXPIRY_MS = 15_000;

export interface RecoveryOptions {
  /** Default 15 000 ms. With 0, every undecided record is aborted (right after a restore). */
  readonly expiryMs?: number;
  /** Clock in epoch ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Stops a sweep between records (it rejects with the signal's reason). */
  readonly signal?: AbortSignal;
}

/** What recovery did with one record. */
export type Resolution = 'none' | 'rolledForward' | 'rolledBack' | 'abortedExpired' | 'unresolved';

/**
 * ScalarDB's Coordinator group commit: one row per group, keyed by a 24-character parent id, listing its
 * members in `tx_child_ids`; a member's records carry `<parent>:<child>`.
 */
const GROUP_COMMIT_ID = /^([0-9A-Za-z]{24}):(.+)$/;

/**
 * The Coordinator's decision for a transaction: 3 COMMITTED, 4 ABORTED, undefined = none yet. A row under
 * the full id wins (a delayed group member decided alone, or a reader aborted it); else the group's row
 * decides for the member if it lists the child id.
 */
export async function coordinatorState(group: StorageGroup, txId: string): Promise<number | undefined> {
  const coordinator = group.storageFor(COORDINATOR_NAMESPACE);
  const row = await coordinator.get(COORDINATOR_TABLE, { tx_id: txId });
  if (row !== undefined) return Number(row.tx_state);
  const match = GROUP_COMMIT_ID.exec(txId);
  if (match === null) return undefined;
  const parent = await coordinator.get(COORDINATOR_TABLE, { tx_id: match[1] ?? '' });
  return parent !== undefined && childIds(parent).includes(match[2] ?? '') ? Number(parent.tx_state) : undefined;
}

function childIds(row: Row): string[] {
  return typeof row.tx_child_ids === 'string' && row.tx_child_ids !== '' ? row.tx_child_ids.split(',') : [];
}

/**
 * Writes ABORTED for `txId` unless a decision exists; returns the decision that stands (ours or the one
 * that won the race).
 */
export async function decideAborted(group: StorageGroup, txId: string, now: number): Promise<number> {
  const coordinator = group.storageFor(COORDINATOR_NAMESPACE);
  try {
    await coordinator.mutate([
      { kind: 'put', table: COORDINATOR_TABLE, key: { tx_id: txId }, values: { tx_state: TxState.ABORTED, tx_created_at: now }, condition: { kind: 'ifNotExists' } },
    ]);
    return TxState.ABORTED;
  } catch (error) {
    if (!(error instanceof TransactionError && error.code === 'TX_CONDITION_FAILED')) throw error;
    // Lost the race: a committer (or another reader) decided first; its decision stands.
    const state = await coordinatorState(group, txId);
    if (state === undefined) throw new InternalError('TXN_DECISION_VANISHED', `The Coordinator row of ${txId} disappeared.`, { cause: error });
    return state;
  }
}

/**
 * Resolves one record if it is PREPARED/DELETED. Condition failures while rolling are ignored: someone
 * else resolved the record first.
 */
export async function resolveRecord(group: StorageGroup, table: TableRef, key: Key, row: Row, options: RecoveryOptions = {}): Promise<Resolution> {
  if (!isPending(row)) return 'none';
  const now = options.now ?? Date.now;
  const txId = String(row.tx_id);
  let decision = await coordinatorState(group, txId);
  let expired = false;
  if (decision === undefined) {
    const preparedAt = typeof row.tx_prepared_at === 'number' ? row.tx_prepared_at : Number(row.tx_prepared_at ?? 0);
    const expiryMs = options.expiryMs ?? DEFAULT_EXPIRY_MS;
    if (expiryMs > 0 && now() - preparedAt <= expiryMs) return 'unresolved';
    decision = await decideAborted(group, txId, now());
    expired = decision === TxState.ABORTED;
  }
  const mutation = decision === TxState.COMMITTED ? rollForwardMutation(table, key, row, now()) : rollBackMutation(table, key, row);
  try {
    await group.storageFor(table.namespace).mutate([mutation]);
  } catch (error) {
    if (!(error instanceof TransactionError && error.code === 'TX_CONDITION_FAILED')) throw error;
  }
  if (decision === TxState.COMMITTED) return 'rolledForward';
  return expired ? 'abortedExpired' : 'rolledBack';
}

/** The full key of a stored row. */
export function keyOf(schema: TableSchema, row: Row): Key {
  const key: Record<string, Row[string]> = {};
  for (const name of keyColumns(schema)) key[name] = row[name] ?? null;
  return key;
}

/**
 * Resolves every PREPARED/DELETED record in every table of the group (the Coordinator excluded). Used
 * after a restore with `expiryMs: 0`: a restored backup has no live writer left to finish anything.
 */
export async function sweep(group: StorageGroup, options: RecoveryOptions = {}): Promise<SweepReport> {
  const counts = { scanned: 0, rolledForward: 0, rolledBack: 0, abortedExpired: 0, unresolved: 0 };
  const tables = (await group.tables()).filter((t) => t.namespace !== COORDINATOR_NAMESPACE && t.transactional !== false);
  for (const schema of tables) {
    const storage = group.storageFor(schema.namespace);
    const pending: Row[] = [];
    // Collect first, then resolve: rolling back deletes rows, which must not disturb the paging scan.
    for await (const row of storage.scanAll(schema)) {
      options.signal?.throwIfAborted();
      counts.scanned += 1;
      if (isPending(row)) pending.push(row);
    }
    for (const row of pending) {
      options.signal?.throwIfAborted();
      const result = await resolveRecord(group, schema, keyOf(schema, row), row, options).catch((error: unknown) => {
        // A live system may hold a lock on the record right now (deadlock victim, busy SQLite file): leave
        // it for the next sweep or a reader instead of failing the whole sweep.
        if (isRetryable(error)) return 'unresolved' as const;
        throw error;
      });
      if (result !== 'none') counts[result] += 1;
    }
  }
  return counts;
}

/**
 * Every decision in the Coordinator: tx id → 3 (COMMITTED) or 4 (ABORTED). Group-commit rows also decide
 * for each listed member (`<parent>:<child>`) unless the member has a row of its own. For checkers.
 */
export async function readCoordinatorStates(group: StorageGroup): Promise<Map<string, number>> {
  const states = new Map<string, number>();
  const members: [string, number][] = [];
  for await (const row of group.storageFor(COORDINATOR_NAMESPACE).scanAll(COORDINATOR_TABLE)) {
    const txId = String(row.tx_id);
    states.set(txId, Number(row.tx_state));
    for (const child of childIds(row)) members.push([`${txId}:${child}`, Number(row.tx_state)]);
  }
  for (const [id, state] of members) if (!states.has(id)) states.set(id, state);
  return states;
}
