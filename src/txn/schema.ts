/**
 * The ScalarDB on-disk layout (../../../shared/reference/transaction-format.md): the five `tx_*` metadata
 * columns, their `before_*` twins, a `before_<col>` for every non-key user column, and the Coordinator
 * table. Storages call {@link physicalColumns} to know what to create; the transaction code uses the
 * column-name helpers to compose records.
 */
import type { ColumnType, Row, TableRef, TableSchema } from './contract.ts';

/** The five metadata columns, in ScalarDB's order. */
export const TX_COLUMNS: Readonly<Record<string, ColumnType>> = Object.freeze({
  tx_id: 'TEXT',
  tx_state: 'INT',
  tx_version: 'INT',
  tx_prepared_at: 'BIGINT',
  tx_committed_at: 'BIGINT',
});

export const TX_COLUMN_NAMES: readonly string[] = Object.freeze(Object.keys(TX_COLUMNS));

export const BEFORE_PREFIX = 'before_';

export const COORDINATOR_NAMESPACE = 'coordinator';
export const COORDINATOR_TABLE_NAME = 'state';
export const COORDINATOR_TABLE: TableRef = Object.freeze({
  namespace: COORDINATOR_NAMESPACE,
  table: COORDINATOR_TABLE_NAME,
});

/** `coordinator.state`: the commit/abort decision of every transaction (not itself transactional). */
export const COORDINATOR_SCHEMA: TableSchema = Object.freeze<TableSchema>({
  namespace: COORDINATOR_NAMESPACE,
  table: COORDINATOR_TABLE_NAME,
  partitionKey: ['tx_id'],
  clusteringKey: [],
  columns: {
    tx_id: 'TEXT',
    tx_child_ids: 'TEXT',
    tx_state: 'INT',
    tx_created_at: 'BIGINT',
    tx_write_set: 'BLOB',
  },
  transactional: false,
});

/** Partition key then clustering key columns. */
export function keyColumns(schema: TableSchema): string[] {
  return [...schema.partitionKey, ...schema.clusteringKey];
}

/** User columns that are not part of the key, in definition order. */
export function nonKeyColumns(schema: TableSchema): string[] {
  const keys = new Set(keyColumns(schema));
  return Object.keys(schema.columns).filter((c) => !keys.has(c));
}

/**
 * Every physical column of a table with its type: user columns, then (for transactional tables) the
 * `tx_*` columns, the `before_` twins of every non-key user column and of the `tx_*` columns.
 */
export function physicalColumns(schema: TableSchema): Record<string, ColumnType> {
  const out: Record<string, ColumnType> = { ...schema.columns };
  if (schema.transactional === false) return out;
  for (const [name, type] of Object.entries(TX_COLUMNS)) out[name] = type;
  for (const name of nonKeyColumns(schema)) out[BEFORE_PREFIX + name] = schema.columns[name] ?? 'TEXT';
  for (const [name, type] of Object.entries(TX_COLUMNS)) out[BEFORE_PREFIX + name] = type;
  return out;
}

/** True for a metadata column name (`tx_*` or any `before_*`). */
export function isMetadataColumn(name: string): boolean {
  return name in TX_COLUMNS || name.startsWith(BEFORE_PREFIX);
}

/**
 * Recovers the user schema from a physical column list (used when reading back a catalog that lists every
 * column, as ScalarDB's metadata table does): drops `tx_*` and the `before_` twins.
 */
export function userSchemaFromPhysical(
  ref: TableRef,
  partitionKey: readonly string[],
  clusteringKey: readonly string[],
  physical: Readonly<Record<string, ColumnType>>,
): TableSchema {
  const names = Object.keys(physical);
  const transactional = TX_COLUMN_NAMES.every((c) => names.includes(c));
  const columns: Record<string, ColumnType> = {};
  for (const [name, type] of Object.entries(physical)) {
    if (transactional && name in TX_COLUMNS) continue;
    if (transactional && name.startsWith(BEFORE_PREFIX) && names.includes(name.slice(BEFORE_PREFIX.length)))
      continue;
    columns[name] = type;
  }
  return { ...ref, partitionKey, clusteringKey, columns, ...(transactional ? {} : { transactional: false }) };
}

/** Fully qualified `namespace.table`, as ScalarDB names tables in its metadata. */
export function fullTableName(ref: TableRef): string {
  return `${ref.namespace}.${ref.table}`;
}

/** The user (after-image) columns of a stored row: everything but `tx_*` and `before_*`. */
export function userValues(row: Row): Record<string, Row[string]> {
  const out: Record<string, Row[string]> = {};
  for (const [name, value] of Object.entries(row)) if (!isMetadataColumn(name)) out[name] = value;
  return out;
}
