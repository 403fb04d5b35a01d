/**
 * Coordinator cleanup, as ScalarDB 3.19's `finishTransaction` (shared/reference/scalardb-storage-formats.md §7).
 *
 * Design. The Coordinator table grows by one row per transaction forever unless rows are deleted, and a row
 * may only go once no record anywhere still needs it to be decided. The write set logged in the row
 * (./write-set.ts, written by ./commit.ts) says which records those are: {@link finishTransaction} reads each
 * one, rolls it forward (COMMITTED) or back (ABORTED) if that transaction still owns it and it is not final,
 * then deletes the row. A row without a write set (a reader's abort, a pre-3.19 row, logging off) cannot be
 * finished: it is kept and left to lazy recovery. {@link cleanupCoordinator} does that for every decided row
 * older than a threshold, a bounded number per call.
 *
 * Cleanup is a transaction-manager operation, and so is paused like every other one: `admit` wraps each
 * finish (the node passes its gate, one gate unit per transaction). That matters for backups: with cleanup
 * outside the pause, a user-table copy taken before a roll-forward restored with a Coordinator copy taken after
 * the row's deletion brings back PREPARED records with no decision, which the sweep would abort — unless a
 * COMMITTED sibling record proves the commit (./recovery.ts `committedEvidence`; docs/trials.md explains when
 * that is enough).
 *
 * The threshold matters for live transactions too: a committer whose commit-state write timed out re-reads
 * its row; if cleanup deleted it meanwhile, the committer would decide ABORTED for a transaction whose records
 * cleanup already rolled forward. Keep `olderThanMs` well above any commit's duration (default 60 s).
 */
import { TransactionError } from '../errors.ts';
import type { Key, Row, StorageGroup, TableRef } from './contract.ts';
import { TxState } from './contract.ts';
import { isPending, rollBackMutation, rollForwardMutation } from './records.ts';
import { splitGroupCommitId } from './recovery.ts';
import { COORDINATOR_NAMESPACE, COORDINATOR_TABLE } from './schema.ts';
import { decodeWriteSet } from './write-set.ts';

/** Default age (ms since `tx_created_at`) below which cleanup leaves a row alone. */
export const DEFAULT_CLEANUP_AGE_MS = 60_000;
/** Default number of rows one cleanup call finishes at most. */
export const DEFAULT_CLEANUP_LIMIT = 1_000;

/**
 * Finishes a transaction and deletes its Coordinator row. True when the row is gone (also when there was none:
 * idempotent); false when the row has no write set, so it cannot be finished and is kept.
 */
export async function finishTransaction(group: StorageGroup, txId: string): Promise<boolean> {
  const found = await decisionRow(group, txId);
  if (found === undefined) return true;
  const { rowId, row } = found;
  const bytes = row.tx_write_set;
  if (!(bytes instanceof Uint8Array)) return false;
  const state = Number(row.tx_state);
  // ScalarDB 3.19 stamps a rolled-forward record with the row's tx_created_at, as the committer does.
  const committedAt = Number(row.tx_created_at);
  for (const group_ of decodeWriteSet(bytes).groups) {
    const owner = group_.childId === undefined ? rowId : `${rowId}$${group_.childId}`;
    for (const entry of group_.entries)
      await finishRecord(group, entry.table, entry.key, owner, state, committedAt);
  }
  // Unconditional, as upstream's deleteState: a concurrent finish deleting it first is fine.
  await group
    .storageFor(COORDINATOR_NAMESPACE)
    .mutate([{ kind: 'delete', table: COORDINATOR_TABLE, key: { tx_id: rowId } }]);
  return true;
}

/**
 * The row deciding `txId` and the id it lives under, as upstream's getState: for a group-commit member the
 * parent's row when it lists the child, else the row under the id itself.
 */
async function decisionRow(
  group: StorageGroup,
  txId: string,
): Promise<{ rowId: string; row: Row } | undefined> {
  const coordinator = group.storageFor(COORDINATOR_NAMESPACE);
  const ids = splitGroupCommitId(txId);
  if (ids !== undefined) {
    const parent = await coordinator.get(COORDINATOR_TABLE, { tx_id: ids.parent });
    const children = typeof parent?.tx_child_ids === 'string' ? parent.tx_child_ids.split(',') : [];
    if (parent !== undefined && children.includes(ids.child)) return { rowId: ids.parent, row: parent };
  }
  const row = await coordinator.get(COORDINATOR_TABLE, { tx_id: txId });
  return row === undefined ? undefined : { rowId: txId, row };
}

/** Rolls one record of `owner` forward or back if it is still that transaction's and pending. */
async function finishRecord(
  group: StorageGroup,
  table: TableRef,
  key: Key,
  owner: string,
  state: number,
  committedAt: number,
): Promise<void> {
  const storage = group.storageFor(table.namespace);
  const row = await storage.get(table, key);
  // Gone, final, or overwritten by a later transaction: nothing of this transaction left to finish.
  if (row === undefined || !isPending(row) || String(row.tx_id) !== owner) return;
  const mutation =
    state === TxState.COMMITTED
      ? rollForwardMutation(table, key, row, committedAt)
      : rollBackMutation(table, key, row);
  try {
    await storage.mutate([mutation]);
  } catch (error) {
    // A reader (or the committer) resolved it first.
    if (!(error instanceof TransactionError && error.code === 'TX_CONDITION_FAILED')) throw error;
  }
}

export interface CleanupOptions {
  /** Rows decided less than this long ago (ms, by `tx_created_at`) are left alone. Default 60 000. */
  readonly olderThanMs?: number;
  /** Rows finished at most per call. Default 1 000. */
  readonly limit?: number;
  readonly signal?: AbortSignal;
  /** Clock in epoch ms. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Runs each finish (the node's gate: one unit per transaction, so a pause waits for a finish in flight and
   * no finish starts while paused). Whatever it throws ends the call. Default: run it directly.
   */
  readonly admit?: <T>(finish: () => Promise<T>) => Promise<T>;
}

export interface CleanupReport {
  /** Coordinator rows read. */
  readonly scanned: number;
  /** Rows finished and deleted. */
  readonly finished: number;
  /** Old enough rows without a write set: kept (lazy recovery's to settle). */
  readonly kept: number;
}

/** Finishes the decided Coordinator rows older than `olderThanMs`, up to `limit` of them. */
export async function cleanupCoordinator(
  group: StorageGroup,
  options: CleanupOptions = {},
): Promise<CleanupReport> {
  const now = options.now ?? Date.now;
  const cutoff = now() - (options.olderThanMs ?? DEFAULT_CLEANUP_AGE_MS);
  const limit = options.limit ?? DEFAULT_CLEANUP_LIMIT;
  const admit = options.admit ?? (<T>(finish: () => Promise<T>) => finish());
  let scanned = 0;
  let kept = 0;
  // Collect first, then finish: deleting rows must not disturb the paging scan (as the sweep does).
  const due: string[] = [];
  for await (const row of group.storageFor(COORDINATOR_NAMESPACE).scanAll(COORDINATOR_TABLE)) {
    options.signal?.throwIfAborted();
    scanned += 1;
    const state = Number(row.tx_state);
    if ((state !== TxState.COMMITTED && state !== TxState.ABORTED) || Number(row.tx_created_at) > cutoff)
      continue;
    if (!(row.tx_write_set instanceof Uint8Array)) kept += 1;
    else if (due.length < limit) due.push(String(row.tx_id));
  }
  let finished = 0;
  for (const txId of due) {
    options.signal?.throwIfAborted();
    if (await admit(() => finishTransaction(group, txId))) finished += 1;
  }
  return { scanned, finished, kept };
}
