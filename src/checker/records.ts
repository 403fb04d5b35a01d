/**
 * Reading raw Consensus Commit records the way a reader with lazy recovery would see them, without writing:
 * the checker must be able to judge a restored copy before (or instead of) repairing it.
 */
import { TxState, type Row, type TableSchema, type Value } from '../txn/contract.ts';

/** The Coordinator's decisions: tx id → COMMITTED (3) or ABORTED (4). */
export type Decisions = ReadonlyMap<string, number>;

const TX_COLUMNS = ['tx_id', 'tx_state', 'tx_version', 'tx_prepared_at', 'tx_committed_at'] as const;

/** True for PREPARED (1) and DELETED (2): a record some transaction has not finished. */
export function isUnfinished(row: Row): boolean {
  const state = stateOf(row);
  return state === TxState.PREPARED || state === TxState.DELETED;
}

/** The stored `tx_state` as a number, or undefined for a "deemed committed" record (all tx_* NULL). */
export function stateOf(row: Row): number | undefined {
  const v = row.tx_state;
  return v === null || v === undefined ? undefined : Number(v);
}

export function txIdOf(row: Row): string | undefined {
  const v = row.tx_id;
  return v === null || v === undefined ? undefined : String(v);
}

/**
 * The committed view of one record: the after image when its writer committed (or it is already
 * COMMITTED / deemed committed), else the before image; `undefined` when the record does not exist in
 * that view (a delete that committed, or an insert that did not).
 */
export function committedView(row: Row, schema: TableSchema, decisions: Decisions): Row | undefined {
  const state = stateOf(row);
  if (state === undefined || state === TxState.COMMITTED) return userColumns(row, schema);
  const txId = txIdOf(row);
  const committed = txId !== undefined && decisions.get(txId) === TxState.COMMITTED;
  if (state === TxState.PREPARED && committed) return userColumns(row, schema);
  if (state === TxState.DELETED && committed) return undefined;
  return beforeImage(row, schema);
}

function userColumns(row: Row, schema: TableSchema): Row {
  const out: Record<string, Value> = {};
  for (const column of Object.keys(schema.columns)) out[column] = row[column] ?? null;
  return out;
}

function beforeImage(row: Row, schema: TableSchema): Row | undefined {
  const keys = new Set([...schema.partitionKey, ...schema.clusteringKey]);
  const out: Record<string, Value> = {};
  let any = TX_COLUMNS.some((c) => row[`before_${c}`] !== null && row[`before_${c}`] !== undefined);
  for (const column of Object.keys(schema.columns)) {
    if (keys.has(column)) {
      out[column] = row[column] ?? null;
      continue;
    }
    const v = row[`before_${column}`] ?? null;
    if (v !== null) any = true;
    out[column] = v;
  }
  // A record inserted by the unfinished transaction has an all-NULL before image: it did not exist before.
  return any ? out : undefined;
}
