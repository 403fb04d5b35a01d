/**
 * ScalarDB's ordered key encoding for DynamoDB (`storage/dynamo/bytes/*.java` in ScalarDB 3.19): the key
 * columns concatenated with no separators, each encoded so that unsigned byte order equals value order.
 * DESC columns have every byte XORed with FF. The result is the binary `concatenatedPartitionKey` /
 * `concatenatedClusteringKey` attribute, so tables written here and by ScalarDB are interchangeable.
 */
import { TransactionError } from '../../../errors.ts';
import type { ColumnType, Value } from '../../contract.ts';

export type KeyOrder = 'ASC' | 'DESC';

export interface KeyColumn {
  readonly name: string;
  readonly type: ColumnType;
  readonly order: KeyOrder;
}

/** Encodes `columns` of `key` in order; `blobAllowedLast` is true only for the partition key. */
export function encodeKey(
  columns: readonly KeyColumn[],
  key: Readonly<Record<string, Value>>,
  blobAllowedLast: boolean,
): Uint8Array {
  const parts: Uint8Array[] = [];
  columns.forEach((column, index) => {
    const value = key[column.name];
    if (value === undefined || value === null) {
      throw new TransactionError('TXN_BAD_KEY', `Key column ${column.name} is missing.`, {
        hint: 'Give every key column a non-null value.',
        context: { column: column.name },
      });
    }
    if (column.type === 'BLOB' && !(blobAllowedLast && index === columns.length - 1)) {
      throw badKey(
        column.name,
        'a BLOB may only be the last partition-key column and never a clustering key',
      );
    }
    parts.push(encodeOne(column, value));
  });
  return concat(parts);
}

function encodeOne(column: KeyColumn, value: Value): Uint8Array {
  const desc = column.order === 'DESC';
  let bytes: Uint8Array;
  switch (column.type) {
    case 'BOOLEAN':
      bytes = Uint8Array.of(value === true ? 1 : 0);
      break;
    case 'INT': {
      const view = new DataView(new ArrayBuffer(4));
      view.setInt32(0, Number(value));
      bytes = new Uint8Array(view.buffer);
      bytes[0] = (bytes[0] ?? 0) ^ 0x80;
      break;
    }
    case 'BIGINT': {
      const view = new DataView(new ArrayBuffer(8));
      view.setBigInt64(0, BigInt(value as number | bigint));
      bytes = new Uint8Array(view.buffer);
      bytes[0] = (bytes[0] ?? 0) ^ 0x80;
      break;
    }
    case 'DOUBLE': {
      const view = new DataView(new ArrayBuffer(8));
      view.setFloat64(0, Number(value));
      bytes = new Uint8Array(view.buffer);
      // Negative values: invert every bit; otherwise flip the sign bit (IEEE order → unsigned byte order).
      if (((bytes[0] ?? 0) & 0x80) !== 0) for (let i = 0; i < 8; i += 1) bytes[i] = ~(bytes[i] ?? 0) & 0xff;
      else bytes[0] = (bytes[0] ?? 0) ^ 0x80;
      break;
    }
    case 'TEXT': {
      const text = String(value);
      if (text.includes('\u0000')) throw badKey(column.name, 'a TEXT key may not contain U+0000');
      bytes = concat([new TextEncoder().encode(text), Uint8Array.of(0)]);
      break;
    }
    case 'BLOB': {
      const raw = value instanceof Uint8Array ? value : new TextEncoder().encode(String(value));
      if (desc && raw.includes(0)) throw badKey(column.name, 'a DESC BLOB key may not contain 00 bytes');
      // ASC adds no terminator; DESC adds FF (which the XOR below turns into the 00 it compares as).
      bytes = desc ? concat([raw, Uint8Array.of(0)]) : new Uint8Array(raw);
      break;
    }
  }
  if (desc) for (let i = 0; i < bytes.length; i += 1) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
  return bytes;
}

function badKey(column: string, why: string): TransactionError {
  return new TransactionError('TXN_BAD_KEY', `Key column ${column} cannot be encoded: ${why}.`, {
    hint: 'Change the key value or the table definition (ScalarDB imposes the same rule on DynamoDB).',
    context: { column },
  });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
