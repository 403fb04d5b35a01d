/**
 * ScalarDB's table catalog on Cosmos DB (`cosmos/CosmosTableMetadata.java`): database `scalardb`, container
 * `metadata` (partition key `/id`), one document per table: `id` = `<ns>.<table>` (logical names, so a
 * restored copy reads the same), `partitionKeyNames`, `clusteringKeyNames`, `clusteringOrders`,
 * `secondaryIndexNames`, `columns` (every physical column → lower-case type).
 */
import type { ColumnType, TableSchema } from '../../contract.ts';
import { fullTableName, physicalColumns, userSchemaFromPhysical } from '../../schema.ts';

export const METADATA_DATABASE = 'scalardb';
export const METADATA_CONTAINER = 'metadata';

export interface CosmosTableMetadata {
  id: string;
  partitionKeyNames: string[];
  clusteringKeyNames: string[];
  clusteringOrders: Record<string, 'ASC' | 'DESC'>;
  secondaryIndexNames: string[];
  columns: Record<string, string>;
}

export function metadataDocument(schema: TableSchema): CosmosTableMetadata {
  const columns: Record<string, string> = {};
  for (const [name, type] of Object.entries(physicalColumns(schema))) columns[name] = type.toLowerCase();
  const clusteringOrders: Record<string, 'ASC' | 'DESC'> = {};
  for (const name of schema.clusteringKey) clusteringOrders[name] = 'ASC';
  return {
    id: fullTableName(schema),
    partitionKeyNames: [...schema.partitionKey],
    clusteringKeyNames: [...schema.clusteringKey],
    clusteringOrders,
    secondaryIndexNames: [],
    columns,
  };
}

export interface CosmosCatalogEntry {
  readonly schema: TableSchema;
  readonly physical: Record<string, ColumnType>;
  readonly orders: Readonly<Record<string, 'ASC' | 'DESC'>>;
}

export function catalogEntry(doc: CosmosTableMetadata): CosmosCatalogEntry {
  const dot = doc.id.indexOf('.');
  const ref = { namespace: doc.id.slice(0, dot), table: doc.id.slice(dot + 1) };
  const physical: Record<string, ColumnType> = {};
  for (const [column, type] of Object.entries(doc.columns ?? {}))
    physical[column] = String(type).toUpperCase() as ColumnType;
  const schema = userSchemaFromPhysical(
    ref,
    doc.partitionKeyNames ?? [],
    doc.clusteringKeyNames ?? [],
    physical,
  );
  return { schema, physical, orders: doc.clusteringOrders ?? {} };
}
