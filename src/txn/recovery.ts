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
  /**
   * Transactions proven committed by a COMMITTED record of theirs elsewhere in the same set of databases (the
   * sweep finds them). Records become COMMITTED only after the commit point, so such a transaction must be
   * rolled forward even when its Coordinator row is gone — ScalarDB 3.19's finishTransaction deletes rows, and
   * a user-table copy older than the roll-forward restored with a Coordinator copy newer than the deletion
   * would otherwise roll a committed transaction back.
   */
  readonly committedEvidence?: ReadonlySet<string>;
}

/** What recovery did with one record. */
export type Resolution = 'none' | 'rolledForward' | 'rolledBack' | 'abortedExpired' | 'unresolved';

/**
 * ScalarDB's Coordinator group commit (3.13+): one row per group keyed by a 24-character parent id, listing its
 * members in `tx_child_ids`; a member's records carry the full id `<parent>$<child>` (a full id is longer than
 * 24 characters with `$` at index 24, as upstream's DefaultGroupCommitKeyManipulator decides).
 */
const PARENT_ID_LENGTH = 24;
const GROUP_DELIMITER = '$';

/** The parent and child of a group-commit full id, or undefined for a plain id. */
export function splitGroupCommitId(txId: string): { parent: string; child: string } | undefined {
  if (txId.length <= PARENT_ID_LENGTH || txId[PARENT_ID_LENGTH] !== GROUP_DELIMITER) return undefined;
  return { parent: txId.slice(0, PARENT_ID_LENGTH), child: txId.slice(PARENT_ID_LENGTH + 1) };
}

/**
 * The Coordinator's decision for a transaction: 3 COMMITTED, 4 ABORTED, undefined = none (yet, or its row was
 * cleaned up). As upstream's getState: for a group member, the parent's row decides if it lists the child;
 * otherwise the row under the full id (a delayed member that committed alone, or a reader's abort).
 */
export async function coordinatorState(group: StorageGroup, txId: string): Promise<number | undefined> {
  const coordinator = group.storageFor(COORDINATOR_NAMESPACE);
  const ids = splitGroupCommitId(txId);
  if (ids !== undefined) {
    const parent = await coordinator.get(COORDINATOR_TABLE, { tx_id: ids.parent });
    if (parent !== undefined && childIds(parent).includes(ids.child)) return Number(parent.tx_state);
  }
  const row = await coordinator.get(COORDINATOR_TABLE, { tx_id: txId });
  return row === undefined ? undefined : Number(row.tx_state);
}

function childIds(row: Row): string[] {
  return typeof row.tx_child_ids === 'string' && row.tx_child_ids !== '' ? row.tx_child_ids.split(',') : [];
}

/** Put-if-not-exists of a decision row; false when a row under that id already exists. */
async function putDecision(
  group: StorageGroup,
  txId: string,
  state: number,
  now: number,
  writeSet?: Uint8Array,
): Promise<boolean> {
  try {
    await group.storageFor(COORDINATOR_NAMESPACE).mutate([
      {
        kind: 'put',
        table: COORDINATOR_TABLE,
        key: { tx_id: txId },
        values: {
          tx_state: state,
          tx_created_at: now,
          ...(writeSet === undefined ? {} : { tx_write_set: writeSet }),
        },
        condition: { kind: 'ifNotExists' },
      },
    ]);
    return true;
  } catch (error) {
    if (error instanceof TransactionError && error.code === 'TX_CONDITION_FAILED') return false;
    throw error;
  }
}

/**
 * Writes `state` (ABORTED by a reader after expiry, or COMMITTED proven by a committed sibling record) for
 * `txId` unless a decision exists; returns the decision that stands (ours or the one that won the race).
 * For a group member, as upstream's forceAbort: first an ABORTED parent row without children, which fences
 * off a group commit still in flight, then the full-id row; a parent row that already lists the child decides.
 * `writeSet` (the committer's own abort) goes into the full-id row; a reader knows no write set.
 */
export async function decide(
  group: StorageGroup,
  txId: string,
  state: number,
  now: number,
  writeSet?: Uint8Array,
): Promise<number> {
  const ids = state === TxState.ABORTED ? splitGroupCommitId(txId) : undefined;
  if (ids !== undefined && !(await putDecision(group, ids.parent, state, now))) {
    const parent = await coordinatorState(group, txId);
    if (parent !== undefined) return parent;
  }
  if (await putDecision(group, txId, state, now, writeSet)) return state;
  // Lost the race: a committer (or another reader) decided first; its decision stands.
  const decided = await coordinatorState(group, txId);
  if (decided === undefined)
    throw new InternalError('TXN_DECISION_VANISHED', `The Coordinator row of ${txId} disappeared.`);
  return decided;
}

/** {@link decide} with ABORTED: what a reader does with a writer silent beyond the expiry (and a committer's abort). */
export function decideAborted(
  group: StorageGroup,
  txId: string,
  now: number,
  writeSet?: Uint8Array,
): Promise<number> {
  return decide(group, txId, TxState.ABORTED, now, writeSet);
}

/**
 * Resolves one record if it is PREPARED/DELETED. Condition failures while rolling are ignored: someone
 * else resolved the record first.
 */
export async function resolveRecord(
  group: StorageGroup,
  table: TableRef,
  key: Key,
  row: Row,
  options: RecoveryOptions = {},
): Promise<Resolution> {
  if (!isPending(row)) return 'none';
  const now = options.now ?? Date.now;
  const txId = String(row.tx_id);
  let decision = await coordinatorState(group, txId);
  let expired = false;
  if (decision === undefined && options.committedEvidence?.has(txId) === true) {
    decision = await decide(group, txId, TxState.COMMITTED, now());
  }
  if (decision === undefined) {
    const preparedAt =
      typeof row.tx_prepared_at === 'number' ? row.tx_prepared_at : Number(row.tx_prepared_at ?? 0);
    const expiryMs = options.expiryMs ?? DEFAULT_EXPIRY_MS;
    if (expiryMs > 0 && now() - preparedAt <= expiryMs) return 'unresolved';
    // As ScalarDB 3.19 before its forceAbort: the row may be missing because cleanup finished the transaction
    // after we read the record (./cleanup.ts); aborting it now would write ABORTED for a committed transaction.
    if (!(await stillPending(group, table, key, row))) return 'none';
    decision = await decideAborted(group, txId, now());
    expired = decision === TxState.ABORTED;
  }
  const mutation =
    decision === TxState.COMMITTED
      ? rollForwardMutation(table, key, row, now())
      : rollBackMutation(table, key, row);
  try {
    await group.storageFor(table.namespace).mutate([mutation]);
  } catch (error) {
    if (!(error instanceof TransactionError && error.code === 'TX_CONDITION_FAILED')) throw error;
  }
  if (decision === TxState.COMMITTED) return 'rolledForward';
  return expired ? 'abortedExpired' : 'rolledBack';
}

/** Whether the record is still pending by the same writer in the same state as `row` (as read earlier). */
async function stillPending(group: StorageGroup, table: TableRef, key: Key, row: Row): Promise<boolean> {
  const current = await group.storageFor(table.namespace).get(table, key);
  return isPending(current) && current?.tx_id === row.tx_id && current?.tx_state === row.tx_state;
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
  const tables = (await group.tables()).filter(
    (t) => t.namespace !== COORDINATOR_NAMESPACE && t.transactional !== false,
  );
  // Collect first, then resolve: rolling back deletes rows, which must not disturb the paging scan.
  const pending: { schema: TableSchema; row: Row }[] = [];
  for (const schema of tables) {
    for await (const row of group.storageFor(schema.namespace).scanAll(schema)) {
      options.signal?.throwIfAborted();
      counts.scanned += 1;
      if (isPending(row)) pending.push({ schema, row });
    }
  }
  const committedEvidence = await committedSiblings(group, tables, pending, options.signal);
  for (const { schema, row } of pending) {
    options.signal?.throwIfAborted();
    const result = await resolveRecord(group, schema, keyOf(schema, row), row, {
      ...options,
      committedEvidence,
    }).catch((error: unknown) => {
      // A live system may hold a lock on the record right now (deadlock victim, busy SQLite file): leave
      // it for the next sweep or a reader instead of failing the whole sweep.
      if (isRetryable(error)) return 'unresolved' as const;
      throw error;
    });
    if (result !== 'none') counts[result] += 1;
  }
  return counts;
}

/**
 * The undecided transactions of `pending` (no Coordinator decision) that left a COMMITTED record somewhere in
 * the group: committed for certain. A second scan, run only when some pending record has no decision.
 */
async function committedSiblings(
  group: StorageGroup,
  tables: readonly TableSchema[],
  pending: readonly { row: Row }[],
  signal?: AbortSignal,
): Promise<Set<string>> {
  const undecided = new Set<string>();
  for (const id of new Set(pending.map((p) => String(p.row.tx_id))))
    if ((await coordinatorState(group, id)) === undefined) undecided.add(id);
  const found = new Set<string>();
  if (undecided.size === 0) return found;
  for (const schema of tables) {
    for await (const row of group.storageFor(schema.namespace).scanAll(schema)) {
      signal?.throwIfAborted();
      const txId = row.tx_id === null || row.tx_id === undefined ? undefined : String(row.tx_id);
      if (txId !== undefined && Number(row.tx_state) === TxState.COMMITTED && undecided.has(txId))
        found.add(txId);
    }
  }
  return found;
}

/**
 * Every decision in the Coordinator: tx id → 3 (COMMITTED) or 4 (ABORTED). Group-commit rows also decide
 * for each listed member (`<parent>$<child>`), before a row under the member's full id. For checkers.
 */
export async function readCoordinatorStates(group: StorageGroup): Promise<Map<string, number>> {
  const states = new Map<string, number>();
  const members: [string, number][] = [];
  for await (const row of group.storageFor(COORDINATOR_NAMESPACE).scanAll(COORDINATOR_TABLE)) {
    const txId = String(row.tx_id);
    states.set(txId, Number(row.tx_state));
    for (const child of childIds(row))
      members.push([`${txId}${GROUP_DELIMITER}${child}`, Number(row.tx_state)]);
  }
  // As getState: the parent's listing decides for a member before a row under its full id.
  for (const [id, state] of members) states.set(id, state);
  return states;
}
