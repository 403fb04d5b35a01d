/**
 * The commit protocol (../../../shared/reference/transaction-format.md): prepare every written record
 * with a conditional write (batched per storage), validate the read set when serializable, write
 * COMMITTED into the Coordinator with put-if-not-exists (THE commit point), then commit the records
 * (failures there are harmless: readers roll forward). Any failure before the commit point aborts:
 * ABORTED into the Coordinator, then every prepared record back to what was read. Both decision rows carry
 * the transaction's write set (`tx_write_set`, ./write-set.ts) when the Coordinator table has that column,
 * as ScalarDB 3.19 with write-set logging does: cleanup (./cleanup.ts) finishes such a row's records and
 * deletes it.
 */
import { TransactionError } from '../errors.ts';
import type {
  Failpoints,
  Key,
  Mutation,
  Row,
  Storage,
  StorageGroup,
  TableRef,
  TableSchema,
  Value,
} from './contract.ts';
import { TxState } from './contract.ts';
import { isPending, prepareMutation, recordId, rollForwardMutation, undoPrepareMutation } from './records.ts';
import { coordinatorState, decideAborted, keyOf } from './recovery.ts';
import { COORDINATOR_NAMESPACE, COORDINATOR_TABLE } from './schema.ts';
import { encodeWriteSet } from './write-set.ts';

/**
 * What a transaction manager shares with its transactions, and a transaction's read, write and scan sets
 * (built by ./transaction.ts, validated and written by the commit below).
 */
export interface ManagerContext {
  readonly group: StorageGroup;
  readonly expiryMs: number;
  readonly now: () => number;
  readonly failpoints: Failpoints;
  /** User schema of a table (cached by the manager). */
  schemaOf(table: TableRef): Promise<TableSchema>;
  /** Whether decision rows log the write set: on, and the Coordinator table has `tx_write_set` (cached). */
  logsWriteSet(): Promise<boolean>;
}

export interface ReadEntry {
  readonly table: TableRef;
  readonly key: Key;
  /** The stored (committed) record as read, all columns; undefined = absent. */
  readonly row: Row | undefined;
}

export interface WriteEntry {
  readonly table: TableRef;
  readonly key: Key;
  /** New user values; undefined = delete. */
  readonly values: Row | undefined;
}

export interface ScanEntry {
  readonly table: TableRef;
  readonly partitionKey: Key;
  /** recordId → tx_id of every record the scan returned. */
  readonly seen: ReadonlyMap<string, Value>;
}

/** The transaction as the commit protocol sees it. */
export interface CommitState {
  readonly ctx: ManagerContext;
  readonly id: string;
  readonly isolation: 'snapshot' | 'serializable';
  readonly reads: ReadonlyMap<string, ReadEntry>;
  readonly writes: ReadonlyMap<string, WriteEntry>;
  readonly scans: readonly ScanEntry[];
  readRecord(table: WriteEntry['table'], key: WriteEntry['key']): Promise<ReadEntry>;
}

/** What the commit writes besides the records: the write set for the decision rows, when logged. */
interface Decision {
  readonly writeSet?: Uint8Array;
}

interface Prepared {
  readonly id: string;
  readonly write: WriteEntry;
  readonly read: ReadEntry;
  readonly mutation: Mutation & { kind: 'put' };
}

export async function commitTransaction(tx: CommitState): Promise<void> {
  const { failpoints } = tx.ctx;
  if (tx.writes.size === 0) {
    if (tx.isolation === 'serializable' && !(await validateReads(tx)))
      throw conflict(tx, 'a record it read changed before it committed');
    return;
  }
  // Blind writes need the current record too: its tx_id is the prepare condition, its values the before image.
  for (const [id, write] of tx.writes) if (!tx.reads.has(id)) await tx.readRecord(write.table, write.key);
  const prepared = composePrepare(tx);
  const decision = await decisionOf(tx, prepared);
  await runOrAbort(tx, prepared, decision, () => prepareAll(tx, prepared));
  await failpoints.afterPrepare?.(tx.id);
  if (tx.isolation === 'serializable') {
    await runOrAbort(tx, prepared, decision, async () => {
      if (!(await validateReads(tx))) throw conflict(tx, 'a record it read changed before it committed');
    });
  }
  await commitState(tx, prepared, decision);
  await failpoints.afterCommitState?.(tx.id);
  await commitRecords(tx, prepared);
}

function composePrepare(tx: CommitState): Prepared[] {
  const preparedAt = tx.ctx.now();
  const out: Prepared[] = [];
  for (const [id, write] of tx.writes) {
    const read = tx.reads.get(id);
    if (read === undefined) throw new TransactionError('TX_INTERNAL', `No read for record ${id}.`);
    const mutation = prepareMutation(
      write.table,
      write.key,
      read.row,
      write.values,
      tx.id,
      preparedAt,
    ) as Mutation & { kind: 'put' };
    out.push({ id, write, read, mutation });
  }
  // One global order of records: two transactions batching overlapping records lock them in the same order.
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The write set of the decision rows (every record the commit prepares), unless the manager does not log it. */
async function decisionOf(tx: CommitState, prepared: readonly Prepared[]): Promise<Decision> {
  if (!(await tx.ctx.logsWriteSet())) return {};
  const entries = [];
  for (const p of prepared) entries.push({ schema: await tx.ctx.schemaOf(p.write.table), key: p.write.key });
  return { writeSet: encodeWriteSet(entries) };
}

/**
 * Prepares storage by storage in one global order (by storage name), one batch per storage where the
 * storage makes a batch atomic. Sequential, not parallel: with parallel prepares two transactions can
 * each win one storage and both abort (a livelock on hot records); in a fixed order the first storage
 * already picks one winner, which then meets no competitor on the others.
 */
async function prepareAll(tx: CommitState, prepared: readonly Prepared[]): Promise<void> {
  const byStorage = new Map<Storage, Mutation[]>();
  for (const p of prepared) {
    const storage = tx.ctx.group.storageFor(p.write.table.namespace);
    byStorage.set(storage, [...(byStorage.get(storage) ?? []), p.mutation]);
  }
  const ordered = [...byStorage].sort(([a], [b]) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const [storage, mutations] of ordered) {
    if (storage.capabilities.atomicity === 'storage') await storage.mutate(mutations);
    else for (const m of mutations) await storage.mutate([m]);
  }
}

/** Runs a pre-commit-point step; on failure aborts (Coordinator ABORTED, records undone) and throws. */
async function runOrAbort(
  tx: CommitState,
  prepared: readonly Prepared[],
  decision: Decision,
  step: () => Promise<void>,
): Promise<void> {
  try {
    await step();
  } catch (error) {
    // If the abort itself fails (a storage is down), the records stay PREPARED: readers abort them after the expiry.
    await abortPrepared(tx, prepared, decision).catch(() => {});
    throw isConflict(error)
      ? conflict(tx, 'another transaction wrote one of its records first', error)
      : error;
  }
}

async function abortPrepared(
  tx: CommitState,
  prepared: readonly Prepared[],
  { writeSet }: Decision,
): Promise<void> {
  const decision = await decideAborted(tx.ctx.group, tx.id, tx.ctx.now(), writeSet);
  if (decision !== TxState.ABORTED) {
    throw new TransactionError('TX_INTERNAL', `Transaction ${tx.id} found itself COMMITTED while aborting.`);
  }
  await undoRecords(tx, prepared);
}

async function undoRecords(tx: CommitState, prepared: readonly Prepared[]): Promise<void> {
  await Promise.allSettled(
    prepared.map((p) =>
      tx.ctx.group
        .storageFor(p.write.table.namespace)
        .mutate([
          undoPrepareMutation(
            p.write.table,
            p.write.key,
            p.read.row,
            tx.id,
            Number(p.mutation.values.tx_state),
          ),
        ]),
    ),
  );
}

/** The commit point. A lost race to a reader that aborted us as expired ends in TX_CONFLICT. */
async function commitState(
  tx: CommitState,
  prepared: readonly Prepared[],
  { writeSet }: Decision,
): Promise<void> {
  const { group } = tx.ctx;
  let decision: number | undefined;
  try {
    await group.storageFor(COORDINATOR_NAMESPACE).mutate([
      {
        kind: 'put',
        table: COORDINATOR_TABLE,
        key: { tx_id: tx.id },
        values: {
          tx_state: TxState.COMMITTED,
          tx_created_at: tx.ctx.now(),
          ...(writeSet === undefined ? {} : { tx_write_set: writeSet }),
        },
        condition: { kind: 'ifNotExists' },
      },
    ]);
    return;
  } catch (error) {
    decision = await decisionAfterFailedCommitState(tx, error, writeSet);
  }
  if (decision === TxState.COMMITTED) return;
  await undoRecords(tx, prepared);
  throw conflict(tx, 'a reader aborted it as expired before it committed');
}

/** After the commit-state write failed: find out (or settle) what the Coordinator decided. */
async function decisionAfterFailedCommitState(
  tx: CommitState,
  error: unknown,
  writeSet: Uint8Array | undefined,
): Promise<number> {
  try {
    // The write may have landed (e.g. a timeout after the server applied it): ask before deciding.
    return (
      (await coordinatorState(tx.ctx.group, tx.id)) ??
      (await decideAborted(tx.ctx.group, tx.id, tx.ctx.now(), writeSet))
    );
  } catch (readError) {
    throw new TransactionError(
      'TX_COMMIT_UNKNOWN',
      `Transaction ${tx.id} may or may not have committed: the Coordinator cannot be read.`,
      {
        hint: 'Check the Coordinator storage; readers or the recovery sweep settle the transaction once it is reachable.',
        context: { txId: tx.id },
        cause: new AggregateError([error, readError]),
      },
    );
  }
}

/** Commits the records: the first one alone (the midCommitRecords failpoint follows), then the rest in parallel. */
async function commitRecords(tx: CommitState, prepared: readonly Prepared[]): Promise<void> {
  const commitOne = async (p: Prepared) => {
    const storage = tx.ctx.group.storageFor(p.write.table.namespace);
    // Harmless if it fails: the Coordinator already says COMMITTED and readers roll the record forward.
    await storage
      .mutate([rollForwardMutation(p.write.table, p.write.key, p.mutation.values, tx.ctx.now())])
      .catch(() => {});
  };
  const [first, ...rest] = prepared;
  if (first === undefined) return;
  await commitOne(first);
  await tx.ctx.failpoints.midCommitRecords?.(tx.id);
  await Promise.all(rest.map(commitOne));
}

/** Serializable: every record read (and every partition scanned) is unchanged; our own writes excepted. */
async function validateReads(tx: CommitState): Promise<boolean> {
  for (const [id, read] of tx.reads) {
    if (tx.writes.has(id)) continue;
    const current = await tx.ctx.group.storageFor(read.table.namespace).get(read.table, read.key);
    if (!sameVersion(read.row, current)) return false;
  }
  for (const scan of tx.scans) {
    const schema = await tx.ctx.schemaOf(scan.table);
    const rows = await tx.ctx.group.storageFor(scan.table.namespace).scan(scan.table, scan.partitionKey);
    const now = new Map(rows.map((r) => [recordId(scan.table, keyOf(schema, r)), r] as const));
    for (const id of new Set([...now.keys(), ...scan.seen.keys()])) {
      if (tx.writes.has(id)) continue;
      const row = now.get(id);
      if (
        row === undefined ||
        !scan.seen.has(id) ||
        isPending(row) ||
        (row.tx_id ?? null) !== scan.seen.get(id)
      )
        return false;
    }
  }
  return true;
}

function sameVersion(before: ReadEntry['row'], current: ReadEntry['row']): boolean {
  if (before === undefined || current === undefined) return before === current;
  return (
    !isPending(current) &&
    (current.tx_id ?? null) === (before.tx_id ?? null) &&
    (current.tx_version ?? null) === (before.tx_version ?? null)
  );
}

function isConflict(error: unknown): boolean {
  return (
    error instanceof TransactionError &&
    (error.code === 'TX_CONDITION_FAILED' || error.code === 'TX_CONFLICT')
  );
}

function conflict(tx: CommitState, why: string, cause?: unknown): TransactionError {
  return new TransactionError('TX_CONFLICT', `Transaction ${tx.id} was aborted: ${why}.`, {
    hint: 'Retry the transaction (TransactionManager.run retries automatically).',
    context: { txId: tx.id },
    ...(cause === undefined ? {} : { cause }),
  });
}
