/**
 * The table catalog, in ScalarDB's own layout: namespace `scalardb`, table `metadata`, one row per
 * physical column (full_table_name, column_name, data_type, key_type, clustering_order, indexed,
 * ordinal_position). Keeping ScalarDB's layout means `listTables` also works on databases that real
 * ScalarDB created, and ScalarDB can read tables we created.
 */
import type { ColumnType, TableRef, TableSchema } from '../../contract.ts';
import { fullTableName, physicalColumns, userSchemaFromPhysical } from '../../schema.ts';
import type { SqlDialect, SqlStep } from './sql-dialect.ts';

export const METADATA_TABLE: TableRef = Object.freeze({ namespace: 'scalardb', table: 'metadata' });

const METADATA_COLUMNS = [
  'full_table_name',
  'column_name',
  'data_type',
  'key_type',
  'clustering_order',
  'indexed',
  'ordinal_position',
];

/** DDL for the metadata table (ScalarDB: VARCHAR(128) names, primary key full_table_name + column_name). */
export function metadataDdl(dialect: SqlDialect): string[] {
  const q = (c: string) => dialect.quote(c);
  return [
    ...dialect.createNamespace(METADATA_TABLE.namespace),
    `CREATE TABLE IF NOT EXISTS ${dialect.tableName(METADATA_TABLE)} (` +
      `${q('full_table_name')} VARCHAR(128) NOT NULL, ${q('column_name')} VARCHAR(128) NOT NULL, ` +
      `${q('data_type')} VARCHAR(20) NOT NULL, ${q('key_type')} VARCHAR(20), ${q('clustering_order')} VARCHAR(10), ` +
      `${q('indexed')} BOOLEAN NOT NULL, ${q('ordinal_position')} INTEGER NOT NULL, ` +
      `PRIMARY KEY (${q('full_table_name')}, ${q('column_name')}))${dialect.tableOptions}`,
  ];
}

/** Upserts of one metadata row per physical column of `schema`. */
export function metadataSteps(dialect: SqlDialect, schema: TableSchema): SqlStep[] {
  const table = dialect.tableName(METADATA_TABLE);
  const sql = dialect.upsert(
    table,
    METADATA_COLUMNS,
    METADATA_COLUMNS.slice(0, 2),
    METADATA_COLUMNS.slice(2),
  );
  const partition = new Set(schema.partitionKey);
  const clustering = new Set(schema.clusteringKey);
  return Object.entries(physicalColumns(schema)).map(([column, type], index) => ({
    sql,
    params: [
      fullTableName(schema),
      column,
      type,
      partition.has(column) ? 'PARTITION' : clustering.has(column) ? 'CLUSTERING' : null,
      clustering.has(column) ? 'ASC' : null,
      dialect.toDb(false),
      index + 1,
    ],
    mustAffect: false,
  }));
}

/** SELECT of every metadata row (small; filtered by namespace in JS, which avoids LIKE-escaping dialects). */
export function metadataQuery(dialect: SqlDialect): string {
  const q = (c: string) => dialect.quote(c);
  return `SELECT * FROM ${dialect.tableName(METADATA_TABLE)} ORDER BY ${q('full_table_name')}, ${q('ordinal_position')}`;
}

/** Groups metadata rows into user schemas plus their physical column types. */
export function schemasFromMetadata(
  rows: readonly Record<string, unknown>[],
): { schema: TableSchema; physical: Record<string, ColumnType> }[] {
  const byTable = new Map<string, Record<string, unknown>[]>();
  for (const row of rows) {
    const name = String(row.full_table_name);
    const list = byTable.get(name) ?? [];
    list.push(row);
    byTable.set(name, list);
  }
  const out: { schema: TableSchema; physical: Record<string, ColumnType> }[] = [];
  for (const [name, list] of byTable) {
    const dot = name.indexOf('.');
    const ref = { namespace: name.slice(0, dot), table: name.slice(dot + 1) };
    list.sort((a, b) => Number(a.ordinal_position) - Number(b.ordinal_position));
    const physical: Record<string, ColumnType> = {};
    for (const row of list)
      physical[String(row.column_name)] = String(row.data_type).toUpperCase() as ColumnType;
    const pick = (kind: string) =>
      list.filter((r) => r.key_type === kind).map((r) => String(r.column_name as string));
    out.push({
      schema: userSchemaFromPhysical(ref, pick('PARTITION'), pick('CLUSTERING'), physical),
      physical,
    });
  }
  return out;
}

/** ScalarDB 3.17+ transaction-metadata decoupling: the views, one row each (JDBC only). */
export const VIRTUAL_TABLES: TableRef = Object.freeze({ namespace: 'scalardb', table: 'virtual_tables' });

/**
 * Decoupled tables as ScalarDB sees them: the view `<t>` (an INNER join of `<t>_data`, the user columns,
 * and `<t>_tx_metadata`, the keys and tx_* / before_* columns) stands for the table, with both sources'
 * columns; the two physical sources are hidden, as in ScalarDB's own table listing.
 */
export function joinVirtualTables(
  tables: readonly { schema: TableSchema; physical: Record<string, ColumnType> }[],
  virtualRows: readonly Record<string, unknown>[],
): { schema: TableSchema; physical: Record<string, ColumnType> }[] {
  const byName = new Map(tables.map((t) => [fullTableName(t.schema), t]));
  const hidden = new Set<string>();
  const views: { schema: TableSchema; physical: Record<string, ColumnType> }[] = [];
  for (const row of virtualRows) {
    const leftName = String(row.left_source_table_full_table_name);
    const rightName = String(row.right_source_table_full_table_name);
    const left = byName.get(leftName);
    const right = byName.get(rightName);
    if (left === undefined || right === undefined || String(row.join_type).toUpperCase() !== 'INNER')
      continue;
    const name = String(row.full_table_name);
    const dot = name.indexOf('.');
    const ref = { namespace: name.slice(0, dot), table: name.slice(dot + 1) };
    const physical = { ...left.physical, ...right.physical };
    views.push({
      schema: userSchemaFromPhysical(ref, left.schema.partitionKey, left.schema.clusteringKey, physical),
      physical,
    });
    hidden.add(leftName).add(rightName);
  }
  return [...tables.filter((t) => !hidden.has(fullTableName(t.schema))), ...views];
}
