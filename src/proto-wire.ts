/**
 * The protobuf wire format, only as much as upstream's messages we speak need: varints (bool, int32, int64),
 * 64-bit fixed fields (double) and length-delimited fields (string, bytes, messages). Used by the pause's
 * admin service and its error details (pause/proto/*.proto) and by the Coordinator's `tx_write_set`
 * (txn/proto/consensus_commit.proto). The messages are fixed by upstream (the .proto files are kept as the
 * reference), so they are encoded by hand here instead of parsing the .proto text with protobufjs at run
 * time: loading protobufjs and @grpc/proto-loader was half of `scalar-admin -c CHECK_PAUSED`'s start-up
 * (issue 17). Unknown fields are skipped, as protobuf requires.
 */

/**
 * One decoded field: a varint as bigint (int64 needs all 64 bits), a length-delimited field as bytes, a
 * fixed64 field as its eight little-endian bytes.
 */
export type WireValue =
  { readonly varint: bigint } | { readonly bytes: Uint8Array } | { readonly fixed64: Uint8Array };

/** Reads every field of a message; the last occurrence wins for scalars, all are kept for repeated fields. */
export function readFields(buffer: Uint8Array): Map<number, WireValue[]> {
  const fields = new Map<number, WireValue[]>();
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= buffer.length) throw new Error('truncated protobuf varint');
      const byte = buffer[at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value;
      if (shift > 63n) throw new Error('protobuf varint longer than 10 bytes');
    }
  };
  while (at < buffer.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wireType = Number(key & 7n);
    let value: WireValue;
    if (wireType === 0) value = { varint: varint() };
    else if (wireType === 2) {
      const length = Number(varint());
      if (at + length > buffer.length) throw new Error('truncated protobuf field');
      value = { bytes: buffer.subarray(at, at + length) };
      at += length;
    } else if (wireType === 1) {
      if (at + 8 > buffer.length) throw new Error('truncated protobuf fixed64');
      value = { fixed64: buffer.subarray(at, at + 8) };
      at += 8;
    } else if (wireType === 5) {
      at += 4; // fixed32 (float): none in the messages we read, skipped
      continue;
    } else throw new Error(`unsupported protobuf wire type ${wireType}`);
    const list = fields.get(field);
    if (list) list.push(value);
    else fields.set(field, [value]);
  }
  return fields;
}

/** The last varint of `field` as a signed 64-bit number (int32/int64/bool), or undefined when absent. */
export function varintField(fields: Map<number, WireValue[]>, field: number): bigint | undefined {
  const last = fields.get(field)?.at(-1);
  return last !== undefined && 'varint' in last ? BigInt.asIntN(64, last.varint) : undefined;
}

/** Every length-delimited occurrence of `field`. */
export function bytesFields(fields: Map<number, WireValue[]>, field: number): Uint8Array[] {
  return (fields.get(field) ?? []).flatMap((v) => ('bytes' in v ? [v.bytes] : []));
}

/** The last fixed64 of `field` as a double, or undefined when absent. */
export function doubleField(fields: Map<number, WireValue[]>, field: number): number | undefined {
  const last = fields.get(field)?.at(-1);
  return last !== undefined && 'fixed64' in last ? Buffer.from(last.fixed64).readDoubleLE(0) : undefined;
}

export function stringField(fields: Map<number, WireValue[]>, field: number): string {
  const last = bytesFields(fields, field).at(-1);
  return last === undefined ? '' : Buffer.from(last).toString('utf8');
}

/** Builds a message field by field. */
export class WireWriter {
  private readonly parts: Buffer[] = [];

  /** int32/int64/bool; negative numbers take ten bytes (two's complement), as protobuf specifies. */
  varint(field: number, value: bigint | number | boolean): this {
    const n = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
    this.parts.push(encodeVarint(BigInt(field) << 3n), encodeVarint(BigInt.asUintN(64, n)));
    return this;
  }

  double(field: number, value: number): this {
    const data = Buffer.alloc(8);
    data.writeDoubleLE(value, 0);
    this.parts.push(encodeVarint((BigInt(field) << 3n) | 1n), data);
    return this;
  }

  bytes(field: number, value: Uint8Array | string): this {
    const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    this.parts.push(encodeVarint((BigInt(field) << 3n) | 2n), encodeVarint(BigInt(data.length)), data);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function encodeVarint(value: bigint): Buffer {
  const bytes: number[] = [];
  let rest = value;
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    bytes.push(rest === 0n ? low : low | 0x80);
  } while (rest !== 0n);
  return Buffer.from(bytes);
}
