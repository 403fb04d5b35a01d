/**
 * ScalarDB's Cosmos DB document (../../../../shared/reference/scalardb-storage-formats.md §2,
 * `cosmos/Record.java`): `id` = partition then clustering key values as text joined with `:`,
 * `concatenatedPartitionKey` = the partition key values joined the same way (the container's partition
 * key path), `partitionKey` / `clusteringKey` = maps of the key columns, `values` = every non-key column
 * (tx_* and before_* included) with nulls left out.
 */
import { TransactionError } from '../../../errors.ts';
import type { ColumnType, Key, Row, TableSchema, Value } from '../../contract.ts';
import { normalizeValue } from '../sql/values.ts';

export type JsonValue = string | number | boolean;

export interface CosmosRecord {
  id: string;
  concatenatedPartitionKey: string;
  partitionKey: Record<string, JsonValue>;
  clusteringKey: Record<string, JsonValue>;
  values: Record<string, JsonValue>;
  _etag?: string;
}

/** Characters ScalarDB refuses in key text (`cosmos/CosmosOperationChecker.java`): they break `id`. */
const FORBIDDEN_KEY_CHARS = /[:/\\#?]/;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Java's `Double.toString`: `1.0`, `1.5`, `1.0E10`, `1.234E-5` (ScalarDB writes key text that way). */
export function javaDouble(d: number): string {
  if (Number.isNaN(d)) return 'NaN';
  if (!Number.isFinite(d)) return d > 0 ? 'Infinity' : '-Infinity';
  if (d === 0) return Object.is(d, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(d);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(d);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mantissa = '', exponent = '0'] = d.toExponential().split('e');
  const m = mantissa.includes('.') ? mantissa : `${mantissa}.0`;
  return `${m}E${Number(exponent)}`;
}

/** The key text of one key value (Java `String.valueOf`; BLOB as URL-safe base64 without padding). */
export function keyText(value: Value, type: ColumnType | undefined, column: string): string {
  if (value === null) {
    throw new TransactionError('COSMOS_KEY_INVALID', `Key column ${column} is null.`, {
      hint: 'Give every key column a value.',
      context: { column },
    });
  }
  if (type === 'BLOB') {
    const bytes = value instanceof Uint8Array ? value : new TextEncoder().encode(String(value));
    return Buffer.from(bytes).toString('base64url');
  }
  if (type === 'DOUBLE') return javaDouble(Number(value));
  if (type === 'BOOLEAN') return value === true ? 'true' : 'false';
  const text = value instanceof Uint8Array ? new TextDecoder().decode(value) : String(value);
  if (type === 'TEXT' && FORBIDDEN_KEY_CHARS.test(text)) {
    throw new TransactionError(
      'COSMOS_KEY_INVALID',
      `Key column ${column} holds ${JSON.stringify(text)}, which has a character Cosmos DB ids cannot carry.`,
      { hint: 'Cosmos DB keys must not contain : / \\ # ?.', context: { column } },
    );
  }
  return text;
}

/** A non-null value as JSON (numbers as JSON numbers, BLOB as standard padded base64). */
export function toJson(value: Exclude<Value, null>, type: ColumnType | undefined, column: string): JsonValue {
  switch (type) {
    case 'BOOLEAN':
      return value === true;
    case 'INT':
    case 'DOUBLE':
      return Number(value);
    case 'BIGINT': {
      const big = typeof value === 'bigint' ? value : BigInt(Math.trunc(Number(value)));
      if (big > SAFE || big < -SAFE) {
        throw new TransactionError(
          'COSMOS_VALUE_OUT_OF_RANGE',
          `BIGINT column ${column} holds ${big}, outside ±2^53 (Cosmos DB stores JSON numbers).`,
          {
            hint: 'ScalarDB refuses the same on Cosmos DB; keep BIGINT values within ±2^53.',
            context: { column },
          },
        );
      }
      return Number(big);
    }
    case 'BLOB':
      return Buffer.from(
        value instanceof Uint8Array ? value : new TextEncoder().encode(String(value)),
      ).toString('base64');
    default:
      return value instanceof Uint8Array ? new TextDecoder().decode(value) : String(value);
  }
}

function fromJson(value: JsonValue | null | undefined, type: ColumnType | undefined): Value {
  if (value === undefined || value === null) return null;
  if (type === 'BLOB') return new Uint8Array(Buffer.from(String(value), 'base64'));
  if (type === 'BOOLEAN') return value === true;
  return normalizeValue(value, type ?? 'TEXT');
}

export interface DocumentLayout {
  readonly schema: TableSchema;
  readonly physical: Readonly<Record<string, ColumnType>>;
}

/** `id` and `concatenatedPartitionKey` of a full key. */
export function documentIds(layout: DocumentLayout, key: Key): { id: string; partition: string } {
  const text = (c: string) => keyText(key[c] ?? null, layout.physical[c], c);
  const partition = layout.schema.partitionKey.map(text).join(':');
  const clustering = layout.schema.clusteringKey.map(text);
  return { id: [partition, ...clustering].join(':'), partition };
}

/** The partition key text of a partition key (for scans). */
export function partitionText(layout: DocumentLayout, key: Key): string {
  return layout.schema.partitionKey.map((c) => keyText(key[c] ?? null, layout.physical[c], c)).join(':');
}

/** A new document for `key` (no values yet). */
export function emptyRecord(layout: DocumentLayout, key: Key): CosmosRecord {
  const { id, partition } = documentIds(layout, key);
  const map = (columns: readonly string[]) => {
    const out: Record<string, JsonValue> = {};
    for (const c of columns) out[c] = toJson(key[c] as Exclude<Value, null>, layout.physical[c], c);
    return out;
  };
  return {
    id,
    concatenatedPartitionKey: partition,
    partitionKey: map(layout.schema.partitionKey),
    clusteringKey: map(layout.schema.clusteringKey),
    values: {},
  };
}

/** `values` merged with the given columns: a null removes the field (ScalarDB's deep merge). */
export function mergeValues(layout: DocumentLayout, base: CosmosRecord, values: Row): CosmosRecord {
  const keys = new Set([...layout.schema.partitionKey, ...layout.schema.clusteringKey]);
  const merged: Record<string, JsonValue> = { ...base.values };
  for (const [column, value] of Object.entries(values)) {
    if (keys.has(column)) continue;
    if (value === null || value === undefined) delete merged[column];
    else merged[column] = toJson(value, layout.physical[column], column);
  }
  return {
    id: base.id,
    concatenatedPartitionKey: base.concatenatedPartitionKey,
    partitionKey: base.partitionKey,
    clusteringKey: base.clusteringKey,
    values: merged,
  };
}

/** A row with every physical column (missing → null). */
export function rowFromRecord(layout: DocumentLayout, record: CosmosRecord): Row {
  const out: Record<string, Value> = {};
  for (const [name, type] of Object.entries(layout.physical)) {
    const raw = record.partitionKey?.[name] ?? record.clusteringKey?.[name] ?? record.values?.[name];
    out[name] = fromJson(raw, type);
  }
  return out;
}
