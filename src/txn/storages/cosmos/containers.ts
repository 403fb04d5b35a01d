/**
 * What the two mutation paths (./etag-mutations.ts, ./sp-mutations.ts) need of the storage: its name, the
 * container of a table and a record read. The storage (./cosmos-storage.ts) implements it, so the paths
 * depend on this small interface and not on the storage class that calls them.
 */
import type { Container } from '@azure/cosmos';
import type { Key, TableRef } from '../../contract.ts';
import type { CosmosRecord, DocumentLayout } from './documents.ts';

/** A table's document layout and the order of its clustering columns. */
export interface TableInfo extends DocumentLayout {
  readonly orders: Readonly<Record<string, 'ASC' | 'DESC'>>;
}

export interface CosmosContainers {
  readonly name: string;
  container(ref: TableRef): Container;
  /** The stored document of a key, with its `_etag`, or undefined. */
  readRecord(table: TableRef, info: TableInfo, key: Key): Promise<CosmosRecord | undefined>;
}
