/**
 * One value mapping for every store: INT/BIGINT → number (bigint only beyond 2^53), BOOLEAN → boolean,
 * DOUBLE → number, TEXT → string, BLOB → Uint8Array. Drivers disagree (pg gives int8 as string, MySQL and
 * SQLite give booleans as 0/1, Buffers for blobs), so rows are normalised by the table's declared types.
 */
import type { ColumnType, Row, Value } from '../../contract.ts';

export function normalizeValue(raw: unknown, type: ColumnType | undefined): Value {
  if (raw === null || raw === undefined) return null;
  switch (type) {
    case 'INT':
    case 'BIGINT':
      return toInteger(raw);
    case 'BOOLEAN':
      return raw === true || raw === 1 || raw === '1' || raw === 't' || raw === 'true' || raw === 1n;
    case 'DOUBLE':
      return Number(raw);
    case 'BLOB':
      return raw instanceof Uint8Array ? new Uint8Array(raw) : new TextEncoder().encode(asText(raw));
    case 'TEXT':
      return raw instanceof Uint8Array ? new TextDecoder().decode(raw) : asText(raw);
    default:
      return raw as Value;
  }
}

function toInteger(raw: unknown): number | bigint {
  if (typeof raw === 'number') return raw;
  const big = typeof raw === 'bigint' ? raw : BigInt(asText(raw));
  return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(big) : big;
}

export function normalizeRow(raw: Record<string, unknown>, types: Readonly<Record<string, ColumnType>>): Row {
  const out: Record<string, Value> = {};
  for (const [name, value] of Object.entries(raw)) out[name] = normalizeValue(value, types[name]);
  return out;
}

/** Uint8Array → Buffer for drivers that only bind Buffers. */
export function toBuffer(value: Value): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value))
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value;
}

function asText(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'bigint' || typeof raw === 'boolean') return String(raw);
  return JSON.stringify(raw);
}
