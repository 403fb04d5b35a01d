/**
 * ScalarDB's table catalog on DynamoDB (`storage/dynamo/DynamoAdmin.java`): table `<prefix>scalardb.metadata`,
 * HASH key `table` (S) = the physical table name `<prefix><ns>.<table>`, and per table `columns` (map of column →
 * lower-case type, every physical column), `partitionKey` / `clusteringKey` (lists), `clusteringOrders` (map).
 * `secondaryIndex` (a string set) is omitted: we create no secondary indexes and DynamoDB forbids empty sets.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { ColumnType, TableSchema } from '../../contract.ts';
import { fullTableName, physicalColumns, userSchemaFromPhysical } from '../../schema.ts';

export const METADATA_NAMESPACE = 'scalardb';
export const METADATA_TABLE_NAME = 'metadata';
export const METADATA_KEY = 'table';

export function metadataItem(tableName: string, schema: TableSchema): Record<string, AttributeValue> {
  const columns: Record<string, AttributeValue> = {};
  for (const [name, type] of Object.entries(physicalColumns(schema)))
    columns[name] = { S: type.toLowerCase() };
  const orders: Record<string, AttributeValue> = {};
  for (const name of schema.clusteringKey) orders[name] = { S: 'ASC' };
  return {
    [METADATA_KEY]: { S: tableName },
    columns: { M: columns },
    partitionKey: { L: schema.partitionKey.map((c) => ({ S: c })) },
    clusteringKey: { L: schema.clusteringKey.map((c) => ({ S: c })) },
    clusteringOrders: { M: orders },
  };
}

export interface CatalogEntry {
  readonly schema: TableSchema;
  readonly physical: Record<string, ColumnType>;
  readonly orders: Readonly<Record<string, 'ASC' | 'DESC'>>;
}

/**
 * The user schema of a metadata item. `logicalName` maps the stored physical name back to `ns.table`
 * (strips the prefix, undoes renames); undefined when the item belongs to another prefix.
 */
export function catalogEntry(
  item: Readonly<Record<string, AttributeValue>>,
  logicalName: (physical: string) => string | undefined,
): CatalogEntry | undefined {
  const stored = item[METADATA_KEY]?.S;
  const name = stored === undefined ? undefined : logicalName(stored);
  if (name === undefined) return undefined;
  const dot = name.indexOf('.');
  const ref = { namespace: name.slice(0, dot), table: name.slice(dot + 1) };
  const physical: Record<string, ColumnType> = {};
  for (const [column, type] of Object.entries(item.columns?.M ?? {}))
    physical[column] = String(type.S).toUpperCase() as ColumnType;
  const list = (attr: AttributeValue | undefined) => (attr?.L ?? []).map((v) => String(v.S));
  const orders: Record<string, 'ASC' | 'DESC'> = {};
  for (const [column, order] of Object.entries(item.clusteringOrders?.M ?? {}))
    orders[column] = order.S === 'DESC' ? 'DESC' : 'ASC';
  const schema = userSchemaFromPhysical(ref, list(item.partitionKey), list(item.clusteringKey), physical);
  return { schema, physical, orders };
}

export { fullTableName };
