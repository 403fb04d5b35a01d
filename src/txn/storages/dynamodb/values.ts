/**
 * Column values ↔ DynamoDB attribute values, ScalarDB's way (`storage/dynamo/ValueBinder.java`): BOOL,
 * N (decimal text) for INT/BIGINT/DOUBLE, S, B. A null is never stored: the attribute is removed, and a
 * missing attribute reads back as null.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { ColumnType, Row, Value } from '../../contract.ts';
import { normalizeValue } from '../sql/values.ts';

/** The attribute for a non-null value of `type`. */
export function toAttribute(value: Exclude<Value, null>, type: ColumnType | undefined): AttributeValue {
  switch (type) {
    case 'BOOLEAN':
      return { BOOL: value === true };
    case 'INT':
    case 'BIGINT':
    case 'DOUBLE':
      return { N: numberText(value) };
    case 'BLOB':
      return { B: value instanceof Uint8Array ? value : new TextEncoder().encode(String(value)) };
    default:
      return { S: value instanceof Uint8Array ? new TextDecoder().decode(value) : String(value) };
  }
}

/** DynamoDB numbers are decimal text; JS gives `1e+21` for large doubles, which DynamoDB accepts. */
function numberText(value: Exclude<Value, null>): string {
  if (typeof value === 'bigint' || typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

function fromAttribute(attribute: AttributeValue | undefined, type: ColumnType | undefined): Value {
  if (attribute === undefined || attribute.NULL === true) return null;
  if (attribute.BOOL !== undefined) return attribute.BOOL;
  if (attribute.N !== undefined) return normalizeValue(attribute.N, type ?? 'DOUBLE');
  if (attribute.B !== undefined) return normalizeValue(attribute.B, type ?? 'BLOB');
  if (attribute.S !== undefined) return normalizeValue(attribute.S, type ?? 'TEXT');
  return null;
}

/** A row with every physical column of the table (missing attributes → null), key attributes dropped. */
export function rowFromItem(
  item: Readonly<Record<string, AttributeValue>>,
  physical: Readonly<Record<string, ColumnType>>,
): Row {
  const out: Record<string, Value> = {};
  for (const [name, type] of Object.entries(physical)) out[name] = fromAttribute(item[name], type);
  return out;
}
