/**
 * CQL text and value mapping for the Cassandra storage, in ScalarDB's format for Cassandra
 * (../../../../shared/reference/scalardb-storage-formats.md §3): a keyspace per namespace, a table per table
 * with native columns and `CLUSTERING ORDER`, no ScalarDB metadata table (the schema is read back from
 * `system_schema`), and conditions written as LWT `IF` clauses.
 */
import type { ColumnType, Condition, Row, TableSchema, Value } from '../../contract.ts';
import { keyColumns, physicalColumns, userSchemaFromPhysical } from '../../schema.ts';

export const CQL_TYPE: Readonly<Record<ColumnType, string>> = {
  TEXT: 'text',
  INT: 'int',
  BIGINT: 'bigint',
  BOOLEAN: 'boolean',
  DOUBLE: 'double',
  BLOB: 'blob',
};

const FROM_CQL: Readonly<Record<string, ColumnType>> = {
  text: 'TEXT',
  varchar: 'TEXT',
  ascii: 'TEXT',
  int: 'INT',
  bigint: 'BIGINT',
  boolean: 'BOOLEAN',
  double: 'DOUBLE',
  blob: 'BLOB',
};

/** A double-quoted CQL identifier (ScalarDB quotes every name so case survives). */
export function q(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function createKeyspaceCql(keyspace: string, replicationFactor: number): string {
  return (
    `CREATE KEYSPACE IF NOT EXISTS ${q(keyspace)} WITH replication = ` +
    `{'class': 'SimpleStrategy', 'replication_factor': ${replicationFactor}}`
  );
}

export function createTableCql(keyspace: string, schema: TableSchema): string {
  const columns = Object.entries(physicalColumns(schema)).map(([n, t]) => `${q(n)} ${CQL_TYPE[t]}`);
  const partition = `(${schema.partitionKey.map(q).join(', ')})`;
  const primary = [partition, ...schema.clusteringKey.map(q)].join(', ');
  const order =
    schema.clusteringKey.length === 0
      ? ''
      : ` WITH CLUSTERING ORDER BY (${schema.clusteringKey.map((c) => `${q(c)} ASC`).join(', ')})`;
  return `CREATE TABLE IF NOT EXISTS ${q(keyspace)}.${q(schema.table)} (${columns.join(', ')}, PRIMARY KEY (${primary}))${order}`;
}

/** One `system_schema.columns` row. */
export interface SchemaColumn {
  readonly table_name: string;
  readonly column_name: string;
  readonly kind: string; // partition_key | clustering | regular | static
  readonly position: number;
  readonly type: string;
}

/** Rebuilds the user schemas of a keyspace from Cassandra's own schema tables. */
export function schemasFromColumns(namespace: string, rows: readonly SchemaColumn[]): TableSchema[] {
  const byTable = new Map<string, SchemaColumn[]>();
  for (const row of rows) byTable.set(row.table_name, [...(byTable.get(row.table_name) ?? []), row]);
  const out: TableSchema[] = [];
  for (const [table, columns] of [...byTable].sort(([a], [b]) => a.localeCompare(b))) {
    const keyOf = (kind: string): string[] =>
      columns
        .filter((c) => c.kind === kind)
        .sort((a, b) => a.position - b.position)
        .map((c) => c.column_name);
    const physical: Record<string, ColumnType> = {};
    for (const c of columns) physical[c.column_name] = FROM_CQL[c.type] ?? 'TEXT';
    out.push(
      userSchemaFromPhysical({ namespace, table }, keyOf('partition_key'), keyOf('clustering'), physical),
    );
  }
  return out;
}

/** The `WHERE` clause over every key column (`"a" = ? AND "b" = ?`). */
export function whereKey(columns: readonly string[]): string {
  return columns.map((c) => `${q(c)} = ?`).join(' AND ');
}

/** The LWT `IF` clause of a condition and its parameters (`ifTxIdIsNull` is `IF tx_id = null`). */
export function ifClause(condition: Condition): { cql: string; params: Value[] } {
  switch (condition.kind) {
    case 'ifNotExists':
      return { cql: ' IF NOT EXISTS', params: [] };
    case 'ifExists':
      return { cql: ' IF EXISTS', params: [] };
    case 'ifTxId':
      return { cql: ` IF ${q('tx_id')} = ?`, params: [condition.txId] };
    case 'ifTxIdIsNull':
      return { cql: ` IF ${q('tx_id')} = null`, params: [] };
    case 'ifTxIdAndState':
      return {
        cql: ` IF ${q('tx_id')} = ? AND ${q('tx_state')} = ?`,
        params: [condition.txId, condition.state],
      };
  }
}

/** A value as the driver binds it for a column type (BIGINT as bigint: the client uses BigInt for longs). */
export function toCql(value: Value, type: ColumnType | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'BIGINT') return BigInt(value as number | bigint);
  if (type === 'BLOB') return Buffer.from(value as Uint8Array);
  return value;
}

/** A driver row as a storage Row: bigints that fit a JS number become numbers, blobs plain Uint8Arrays. */
export function fromCql(
  raw: { readonly [column: string]: unknown },
  physical: Readonly<Record<string, ColumnType>>,
): Row {
  const out: Record<string, Value> = {};
  for (const name of Object.keys(physical)) {
    const value = raw[name];
    if (value === null || value === undefined) out[name] = null;
    else if (typeof value === 'bigint') {
      out[name] =
        value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
          ? Number(value)
          : value;
    } else if (Buffer.isBuffer(value)) out[name] = new Uint8Array(value);
    else out[name] = value as Value;
  }
  return out;
}

export { keyColumns };
