/**
 * The Coordinator's `tx_write_set` (ScalarDB 3.19's write-set logging): which records a transaction wrote,
 * stored in its Coordinator row so that `finishTransaction` (./cleanup.ts) can finish them and delete the row.
 *
 * Encoding: upstream's protobuf `scalardb.consensus_commit.proto.v1.WriteSet`, byte for byte (the reference
 * is ./proto/consensus_commit.proto, encoded by hand over ../proto-wire.ts as the admin messages are): so
 * ScalarDB's finishTransaction can finish our rows and ours can finish ScalarDB's. `schema_version` = 1;
 * the payload is one `EntryGroups` holding one `EntryGroup` without `child_id` (we do not group-commit);
 * each `Entry` names the namespace, the table, the partition key and (when the table has one) the clustering
 * key, each key a list of typed `Column`s in key order. Entries hold keys only: whether a record was put or
 * deleted is in the record's own `tx_state`. A NULL column means "no information" (a reader's abort, a
 * pre-3.19 row); an empty `EntryGroups` a transaction without writes.
 */
import { TransactionError } from '../errors.ts';
import {
  bytesFields,
  doubleField,
  readFields,
  stringField,
  varintField,
  WireWriter,
  type WireValue,
} from '../proto-wire.ts';
import type { ColumnType, Key, TableRef, TableSchema, Value } from './contract.ts';

export const WRITE_SET_SCHEMA_VERSION = 1;

/** One written record. */
export interface WriteSetEntry {
  readonly table: TableRef;
  /** Partition key then clustering key columns. */
  readonly key: Key;
}

/** A decoded write set: one group per writing transaction (upstream: one per group-commit child). */
export interface WriteSet {
  readonly groups: readonly { readonly childId?: string; readonly entries: readonly WriteSetEntry[] }[];
}

// Field numbers of consensus_commit.proto.
const WRITE_SET = { schemaVersion: 1, entryGroups: 2 } as const;
const ENTRY_GROUPS = { entryGroups: 1 } as const;
const ENTRY_GROUP = { childId: 1, entries: 2 } as const;
const ENTRY = { participantId: 1, namespace: 2, table: 3, partitionKey: 4, clusteringKey: 5 } as const;
const KEY = { columns: 1 } as const;
const COLUMN = { name: 1 } as const;
/** `Column.value` oneof cases we have column types for; each case is a message whose field 1 is the value. */
const VALUE_FIELD: Readonly<Record<ColumnType, number>> = {
  BOOLEAN: 2,
  INT: 3,
  BIGINT: 4,
  DOUBLE: 6,
  TEXT: 7,
  BLOB: 8,
};

/** Encodes the write set of one transaction: its records, with each table's schema to split and type keys. */
export function encodeWriteSet(
  entries: readonly { readonly schema: TableSchema; readonly key: Key }[],
): Uint8Array {
  const group = new WireWriter();
  for (const { schema, key } of entries) {
    const entry = new WireWriter()
      .bytes(ENTRY.namespace, schema.namespace)
      .bytes(ENTRY.table, schema.table)
      .bytes(ENTRY.partitionKey, encodeKey(schema, schema.partitionKey, key));
    if (schema.clusteringKey.length > 0)
      entry.bytes(ENTRY.clusteringKey, encodeKey(schema, schema.clusteringKey, key));
    group.bytes(ENTRY_GROUP.entries, entry.finish());
  }
  const groups = new WireWriter();
  if (entries.length > 0) groups.bytes(ENTRY_GROUPS.entryGroups, group.finish());
  return new WireWriter()
    .varint(WRITE_SET.schemaVersion, WRITE_SET_SCHEMA_VERSION)
    .bytes(WRITE_SET.entryGroups, groups.finish())
    .finish();
}

function encodeKey(schema: TableSchema, names: readonly string[], key: Key): Uint8Array {
  const out = new WireWriter();
  for (const name of names) {
    const type = schema.columns[name];
    if (type === undefined)
      throw unreadable(`table ${schema.namespace}.${schema.table} has no key column ${name}`);
    out.bytes(KEY.columns, encodeColumn(name, type, key[name] ?? null));
  }
  return out.finish();
}

function encodeColumn(name: string, type: ColumnType, value: Value): Uint8Array {
  const inner = new WireWriter();
  if (value !== null) {
    if (type === 'DOUBLE') inner.double(1, Number(value));
    else if (type === 'TEXT') inner.bytes(1, String(value));
    else if (type === 'BLOB')
      inner.bytes(1, value instanceof Uint8Array ? value : Buffer.from(String(value)));
    else if (type === 'BOOLEAN') inner.varint(1, value === true || value === 1 || value === 1n);
    else inner.varint(1, typeof value === 'bigint' ? value : BigInt(Number(value)));
  }
  return new WireWriter().bytes(COLUMN.name, name).bytes(VALUE_FIELD[type], inner.finish()).finish();
}

/**
 * Decodes a `tx_write_set`. Throws TransactionError `TXN_WRITE_SET_UNREADABLE` on a schema version or a
 * payload case we do not know (a newer writer): read as "no entries", the row would be deleted with its
 * records still pending — exactly the loss upstream's finishTransaction guards against.
 */
export function decodeWriteSet(bytes: Uint8Array): WriteSet {
  const fields = readFields(bytes);
  const version = Number(varintField(fields, WRITE_SET.schemaVersion) ?? 0n);
  // proto3's default 0 counts as version 1 (consensus_commit.proto).
  if (version !== 0 && version !== WRITE_SET_SCHEMA_VERSION)
    throw unreadable(`schema_version ${version} is newer than ${WRITE_SET_SCHEMA_VERSION}`);
  const [payload] = bytesFields(fields, WRITE_SET.entryGroups);
  if (payload === undefined) throw unreadable('its payload is not EntryGroups');
  return {
    groups: bytesFields(readFields(payload), ENTRY_GROUPS.entryGroups).map((groupBytes) => {
      const group = readFields(groupBytes);
      const childId =
        bytesFields(group, ENTRY_GROUP.childId).length > 0
          ? stringField(group, ENTRY_GROUP.childId)
          : undefined;
      const entries = bytesFields(group, ENTRY_GROUP.entries).map(decodeEntry);
      return childId === undefined ? { entries } : { childId, entries };
    }),
  };
}

function decodeEntry(bytes: Uint8Array): WriteSetEntry {
  const entry = readFields(bytes);
  const key: Record<string, Value> = {};
  for (const field of [ENTRY.partitionKey, ENTRY.clusteringKey])
    for (const keyBytes of bytesFields(entry, field))
      for (const column of bytesFields(readFields(keyBytes), KEY.columns)) decodeColumn(column, key);
  return {
    table: { namespace: stringField(entry, ENTRY.namespace), table: stringField(entry, ENTRY.table) },
    key,
  };
}

function decodeColumn(bytes: Uint8Array, into: Record<string, Value>): void {
  const fields = readFields(bytes);
  const name = stringField(fields, COLUMN.name);
  for (const [type, field] of Object.entries(VALUE_FIELD) as [ColumnType, number][]) {
    const [inner] = bytesFields(fields, field);
    if (inner === undefined) continue;
    into[name] = decodeValue(type, readFields(inner));
    return;
  }
  // FLOAT, DATE, TIME, TIMESTAMP, TIMESTAMPTZ: ScalarDB types our layer has no column type for.
  throw unreadable(`key column ${name} has a type stillpoint does not support`);
}

function decodeValue(type: ColumnType, inner: Map<number, WireValue[]>): Value {
  if (!inner.has(1)) return null;
  switch (type) {
    case 'TEXT':
      return stringField(inner, 1);
    case 'BLOB':
      return new Uint8Array(bytesFields(inner, 1)[0] ?? []);
    case 'DOUBLE':
      return doubleField(inner, 1) ?? null;
    case 'BOOLEAN':
      return varintField(inner, 1) !== 0n;
    case 'INT':
      return Number(BigInt.asIntN(32, varintField(inner, 1) ?? 0n));
    case 'BIGINT': {
      const n = varintField(inner, 1) ?? 0n;
      return Number.isSafeInteger(Number(n)) ? Number(n) : n;
    }
  }
}

function unreadable(why: string): TransactionError {
  return new TransactionError(
    'TXN_WRITE_SET_UNREADABLE',
    `A Coordinator tx_write_set cannot be read: ${why}.`,
    {
      hint: 'The row was written by a newer ScalarDB; finish it with that version, or leave it to lazy recovery.',
    },
  );
}
