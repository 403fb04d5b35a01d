/**
 * The record-level moves of Consensus Commit, shared by committing transactions, lazy recovery on read
 * and the eager sweep: what a prepared record looks like, and the conditional mutation that rolls a
 * PREPARED/DELETED record forward (commit) or back (restore the before image, or delete the record if it
 * had none). Every move is conditioned on the writer's `tx_id` AND the observed `tx_state`, so it is safe
 * to race: whoever loses simply finds the condition false.
 */
import type { Key, Mutation, Row, TableRef, Value } from './contract.ts';
import { TxState } from './contract.ts';
import { BEFORE_PREFIX, TX_COLUMN_NAMES, userValues } from './schema.ts';

/** A record a transaction has not finished: PREPARED or DELETED. */
export function isPending(row: Row | undefined): boolean {
  return row !== undefined && (row.tx_state === TxState.PREPARED || row.tx_state === TxState.DELETED);
}

/** The `before_*` columns of a stored row set to NULL. */
function clearedBeforeImage(row: Row): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const name of Object.keys(row)) if (name.startsWith(BEFORE_PREFIX)) out[name] = null;
  return out;
}

/** Rolls a pending record of `txId` forward: PREPARED → COMMITTED (before image dropped); DELETED → gone. */
export function rollForwardMutation(table: TableRef, key: Key, row: Row, committedAt: number): Mutation {
  const txId = String(row.tx_id);
  if (row.tx_state === TxState.DELETED) {
    return {
      kind: 'delete',
      table,
      key,
      condition: { kind: 'ifTxIdAndState', txId, state: TxState.DELETED },
    };
  }
  return {
    kind: 'put',
    table,
    key,
    values: { ...clearedBeforeImage(row), tx_state: TxState.COMMITTED, tx_committed_at: committedAt },
    condition: { kind: 'ifTxIdAndState', txId, state: TxState.PREPARED },
  };
}

/**
 * Rolls a pending record back to its before image. A record without one (`before_tx_version` NULL) was
 * inserted by the transaction and is deleted. `before_tx_version` 0 marks a record that was "deemed
 * committed" (all tx_* NULL, e.g. imported): its tx_* columns go back to NULL.
 */
export function rollBackMutation(table: TableRef, key: Key, row: Row): Mutation {
  const condition = { kind: 'ifTxIdAndState', txId: String(row.tx_id), state: Number(row.tx_state) } as const;
  if (row.before_tx_version === null || row.before_tx_version === undefined)
    return { kind: 'delete', table, key, condition };
  const values: Record<string, Value> = clearedBeforeImage(row);
  for (const name of Object.keys(row)) {
    if (!name.startsWith(BEFORE_PREFIX)) continue;
    const column = name.slice(BEFORE_PREFIX.length);
    if (column in row) values[column] = row[name] ?? null;
  }
  if (row.before_tx_version === 0) for (const name of TX_COLUMN_NAMES) values[name] = null;
  return { kind: 'put', table, key, values, condition };
}

/**
 * The prepare write for one record. `current` is the committed record as read (undefined = absent);
 * `values` the new user values (undefined for a delete). A new record is put-if-not-exists with version 1;
 * an existing one is put-if(tx_id = read tx_id) with the after image copied into `before_*`.
 */
export function prepareMutation(
  table: TableRef,
  key: Key,
  current: Row | undefined,
  values: Row | undefined,
  txId: string,
  preparedAt: number,
): Mutation {
  const meta = {
    tx_id: txId,
    tx_state: values === undefined ? TxState.DELETED : TxState.PREPARED,
    tx_prepared_at: preparedAt,
  };
  const keyNames = new Set(Object.keys(key));
  const newValues: Record<string, Value> = {};
  for (const [name, value] of Object.entries(values ?? {})) if (!keyNames.has(name)) newValues[name] = value;
  if (current === undefined) {
    return {
      kind: 'put',
      table,
      key,
      values: { ...newValues, ...meta, tx_version: 1 },
      condition: { kind: 'ifNotExists' },
    };
  }
  const before: Record<string, Value> = {};
  for (const [name, value] of Object.entries(userValues(current)))
    if (!keyNames.has(name)) before[BEFORE_PREFIX + name] = value;
  for (const name of TX_COLUMN_NAMES) before[BEFORE_PREFIX + name] = current[name] ?? null;
  const version = typeof current.tx_version === 'number' ? current.tx_version : 0;
  // A deemed-committed record has no version: its before image records version 0 (see rollBackMutation).
  before.before_tx_version = version;
  const priorTxId = current.tx_id;
  return {
    kind: 'put',
    table,
    key,
    values: { ...newValues, ...before, ...meta, tx_version: version + 1 },
    condition:
      priorTxId === null || priorTxId === undefined
        ? { kind: 'ifTxIdIsNull' }
        : { kind: 'ifTxId', txId: String(priorTxId) },
  };
}

/**
 * Rolls back a record this transaction prepared, from what it read before (not from the stored before
 * image, which may be absent if the prepare never landed): the condition makes it a no-op then.
 */
export function undoPrepareMutation(
  table: TableRef,
  key: Key,
  current: Row | undefined,
  txId: string,
  state: number,
): Mutation {
  const condition = { kind: 'ifTxIdAndState', txId, state } as const;
  if (current === undefined) return { kind: 'delete', table, key, condition };
  const values: Record<string, Value> = { ...clearedBeforeImage(current) };
  const keyNames = new Set(Object.keys(key));
  for (const [name, value] of Object.entries(current))
    if (!keyNames.has(name) && !name.startsWith(BEFORE_PREFIX)) values[name] = value;
  return { kind: 'put', table, key, values, condition };
}

/** A stable string id for a record (for maps), valid for every Value type. */
export function recordId(table: TableRef, key: Key): string {
  const parts = Object.keys(key)
    .sort()
    .map((name) => [name, encode(key[name] ?? null)]);
  return JSON.stringify([table.namespace, table.table, parts]);
}

function encode(value: Value): string {
  if (value instanceof Uint8Array) return `b:${Buffer.from(value).toString('hex')}`;
  if (typeof value === 'bigint' || typeof value === 'number') return `n:${value.toString()}`;
  return `${typeof value}:${String(value)}`;
}
