/**
 * The artifact envelope (docs/store-format.md, "Artifact objects"): a self-describing header followed by
 * the body, compressed and/or encrypted in a stream.
 *
 *   "SPAE" (4) ‖ version u8 (=2; 1 still read) ‖ header length u32 BE ‖ header JSON (UTF-8) ‖ body
 *
 * Encrypted bodies are records of at most {@link CHUNK_BYTES} plaintext bytes:
 *   final u8 (0|1) ‖ length u32 BE ‖ AES-256-GCM ciphertext ‖ tag (16)
 * with nonce = noncePrefix (8) ‖ index u32 BE and AAD = headerHash ‖ index u32 BE ‖ final u8, so a changed
 * header field, a reordered, dropped, duplicated or truncated record, or any flipped byte fails.
 * Version 2: headerHash = sha256 of the header WITHOUT its key id and wrapped key ({@link bodyAad}), so
 * `keys rotate` can rewrap the data key by rewriting the header alone, the body copied byte for byte (a
 * swapped wrapped key unwraps to another data key, and then no record authenticates). Version 1 (the
 * first release): headerHash = sha256(header bytes); such objects are read, and rotated by re-encrypting.
 * Objects without the magic (files adopted from external tools, artifacts written before envelopes) are
 * read as they are.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Readable, pipeline, type Transform } from 'node:stream';
import { constants, createBrotliCompress, createBrotliDecompress, createGunzip, createGzip } from 'node:zlib';
import { CatalogError } from '../../errors.ts';
import type { Keyring, KeyProvider, WrappedKey } from './key-providers.ts';

export const MAGIC = Buffer.from('SPAE');
export const ENVELOPE_VERSION = 2;
export const CHUNK_BYTES = 1024 * 1024;
const TAG_BYTES = 16;

export type Compression = 'none' | 'gzip' | 'brotli';

export interface EnvelopeHeader {
  readonly compression: Compression;
  readonly encryption: null | {
    readonly alg: 'aes-256-gcm-chunked';
    readonly chunkBytes: number;
    readonly keyId: string;
    readonly wrappedKey: string;
    readonly noncePrefix: string;
  };
}

export interface EncodeOptions {
  readonly compression: Compression;
  /** Encrypts when given. */
  readonly keys?: KeyProvider;
}

/** The encoded stream of `source`: header, then the compressed and/or encrypted body. */
export async function encode(source: Readable, options: EncodeOptions): Promise<Readable> {
  const noncePrefix = randomBytes(8);
  const generated = options.keys === undefined ? undefined : await options.keys.newDataKey();
  const encryption =
    generated === undefined
      ? null
      : {
          alg: 'aes-256-gcm-chunked' as const,
          chunkBytes: CHUNK_BYTES,
          keyId: generated.wrapped.keyId,
          wrappedKey: generated.wrapped.wrapped,
          noncePrefix: noncePrefix.toString('base64'),
        };
  const header: EnvelopeHeader = { compression: options.compression, encryption };
  const compressed = compressor(options.compression);
  const body: Readable = compressed === undefined ? source : pipeline(source, compressed, () => undefined);
  const aad = bodyAad(header, ENVELOPE_VERSION, Buffer.from(JSON.stringify(header)));
  async function* generate(): AsyncGenerator<Buffer> {
    yield headerBytes(header);
    if (generated === undefined) {
      for await (const chunk of body) yield chunk as Buffer;
      return;
    }
    let index = 0;
    for await (const plain of rechunk(body, CHUNK_BYTES)) {
      yield sealRecord(generated.dataKey, noncePrefix, aad, index++, plain.data, plain.last);
    }
  }
  return Readable.from(generate(), { objectMode: false });
}

/** Magic ‖ version ‖ length ‖ JSON of a current-version header. */
export function headerBytes(header: EnvelopeHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(9);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt8(ENVELOPE_VERSION, 4);
  prefix.writeUInt32BE(json.length, 5);
  return Buffer.concat([prefix, json]);
}

/** The hash every record's AAD starts with (see the file header for versions 1 and 2). */
function bodyAad(header: EnvelopeHeader, version: number, json: Buffer): Buffer {
  if (version === 1) return createHash('sha256').update(json).digest();
  const e = header.encryption;
  const bound = [
    'stillpoint-envelope-v2',
    header.compression,
    e === null ? null : [e.alg, e.chunkBytes, e.noncePrefix],
  ];
  return createHash('sha256').update(JSON.stringify(bound)).digest();
}

function sealRecord(
  key: Buffer,
  prefix: Buffer,
  aad: Buffer,
  index: number,
  plain: Buffer,
  last: boolean,
): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonceFor(prefix, index));
  cipher.setAAD(recordAad(aad, index, last));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  const head = Buffer.alloc(5);
  head.writeUInt8(last ? 1 : 0, 0);
  head.writeUInt32BE(plain.length, 1);
  return Buffer.concat([head, body, cipher.getAuthTag()]);
}

/** A stored object's envelope header, read from its first bytes, and the rest of the stream. */
export interface OpenedEnvelope {
  readonly version: number;
  readonly header: EnvelopeHeader;
  readonly json: Buffer;
  readonly reader: ByteReader;
}

/** Reads the header of a stored object; undefined (with the bytes read so far) when it is not an envelope. */
export async function readEnvelope(
  stored: Readable,
  key: string,
): Promise<{ envelope: OpenedEnvelope } | { plain: Readable }> {
  const reader = new ByteReader(stored);
  const first = await reader.read(4);
  if (first === null || !first.equals(MAGIC))
    return { plain: Readable.from(prepend(first, reader.rest()), { objectMode: false }) };
  const head = await reader.readExactly(5, key);
  const version = head.readUInt8(0);
  if (version !== 1 && version !== ENVELOPE_VERSION) {
    throw new CatalogError(
      'ARTIFACT_FORMAT_UNSUPPORTED',
      `Artifact ${key} has envelope version ${version}; this version reads 1 and ${ENVELOPE_VERSION}.`,
      {
        context: { key },
        hint: 'Restore it with the stillpoint version that wrote it, or a newer one.',
      },
    );
  }
  const json = await reader.readExactly(head.readUInt32BE(1), key);
  const header = JSON.parse(json.toString('utf8')) as EnvelopeHeader;
  return { envelope: { version, header, json, reader } };
}

/**
 * The decoded (plain) stream of a stored object. The header is read and the data key unwrapped before this
 * resolves, so a missing or wrong key is an error here, before any byte reaches the caller.
 */
export async function decode(stored: Readable, keys: Keyring, key: string): Promise<Readable> {
  const opened = await readEnvelope(stored, key);
  if ('plain' in opened) return opened.plain;
  const { version, header, json, reader } = opened.envelope;
  let plain: Readable;
  if (header.encryption === null) plain = Readable.from(reader.rest(), { objectMode: false });
  else {
    const dataKey = await keys.unwrap(wrappedOf(header), key);
    plain = Readable.from(
      openRecords(
        reader,
        dataKey,
        Buffer.from(header.encryption.noncePrefix, 'base64'),
        bodyAad(header, version, json),
        key,
      ),
      { objectMode: false },
    );
  }
  const decompress = decompressor(header.compression);
  return decompress === undefined ? plain : pipeline(plain, decompress, () => undefined);
}

export function wrappedOf(header: EnvelopeHeader): WrappedKey {
  if (header.encryption === null) throw new Error('not encrypted');
  return { keyId: header.encryption.keyId, wrapped: header.encryption.wrappedKey };
}

async function* openRecords(
  reader: ByteReader,
  dataKey: Buffer,
  prefix: Buffer,
  aad: Buffer,
  key: string,
): AsyncGenerator<Buffer> {
  for (let index = 0; ; index++) {
    const head = await reader.read(5);
    if (head === null || head.length < 5) throw tampered(key, 'the object ends before its final record');
    const last = head.readUInt8(0) === 1;
    const body = await reader.readExactly(head.readUInt32BE(1) + TAG_BYTES, key);
    const decipher = createDecipheriv('aes-256-gcm', dataKey, nonceFor(prefix, index));
    decipher.setAAD(recordAad(aad, index, last));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      yield Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch (cause) {
      throw tampered(key, `record ${index} does not authenticate`, cause);
    }
    if (last) {
      if ((await reader.read(1)) !== null) throw tampered(key, 'bytes follow the final record');
      return;
    }
  }
}

function tampered(key: string, why: string, cause?: unknown): CatalogError {
  return new CatalogError(
    'ARTIFACT_TAMPERED',
    `Artifact ${key} failed authentication (${why}): it was changed or truncated after it was written.`,
    {
      context: { key },
      hint: 'Do not restore from this backup; restore an older one and find out who can write to the store.',
      ...(cause !== undefined ? { cause } : {}),
    },
  );
}

function nonceFor(prefix: Buffer, index: number): Buffer {
  const nonce = Buffer.alloc(12);
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(index, 8);
  return nonce;
}

function recordAad(headerHash: Buffer, index: number, last: boolean): Buffer {
  const tail = Buffer.alloc(5);
  tail.writeUInt32BE(index, 0);
  tail.writeUInt8(last ? 1 : 0, 4);
  return Buffer.concat([headerHash, tail]);
}

/** Gzip at level 6 (zlib's default): see docs/decisions/0007-artifact-stores.md. */
function compressor(c: Compression): Transform | undefined {
  if (c === 'gzip') return createGzip({ level: 6 });
  if (c === 'brotli') return createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 4 } });
  return undefined;
}

function decompressor(c: Compression): Transform | undefined {
  if (c === 'gzip') return createGunzip();
  if (c === 'brotli') return createBrotliDecompress();
  return undefined;
}

/** Splits a stream into pieces of exactly `size` bytes (the last may be shorter, even empty), marking the last. */
async function* rechunk(
  source: AsyncIterable<unknown>,
  size: number,
): AsyncGenerator<{ data: Buffer; last: boolean }> {
  let pending: Buffer = Buffer.alloc(0);
  let held: Buffer | undefined; // a full piece not yet known to be the last
  for await (const chunk of source) {
    pending = pending.length === 0 ? (chunk as Buffer) : Buffer.concat([pending, chunk as Buffer]);
    while (pending.length >= size) {
      if (held !== undefined) yield { data: held, last: false };
      held = pending.subarray(0, size);
      pending = pending.subarray(size);
    }
  }
  if (pending.length > 0) {
    if (held !== undefined) yield { data: held, last: false };
    yield { data: pending, last: true };
  } else yield { data: held ?? pending, last: true };
}

async function* prepend(first: Buffer | null, rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  if (first !== null && first.length > 0) yield first;
  yield* rest;
}

/** Reads exact byte counts from a stream without holding more than one incoming chunk beyond the request. */
export class ByteReader {
  private readonly iterator: AsyncIterator<unknown>;
  private buffer: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(source: Readable) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Up to `n` bytes (fewer only at the end), or null when nothing is left. */
  async read(n: number): Promise<Buffer | null> {
    while (this.buffer.length < n && !this.done) {
      const next = await this.iterator.next();
      if (next.done === true) this.done = true;
      else
        this.buffer =
          this.buffer.length === 0
            ? (next.value as Buffer)
            : Buffer.concat([this.buffer, next.value as Buffer]);
    }
    if (this.buffer.length === 0) return null;
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(out.length);
    return out;
  }

  async readExactly(n: number, key: string): Promise<Buffer> {
    const out = n === 0 ? Buffer.alloc(0) : await this.read(n);
    if (out === null || out.length < n) throw tampered(key, 'the object is truncated');
    return out;
  }

  async *rest(): AsyncGenerator<Buffer> {
    if (this.buffer.length > 0) yield this.buffer;
    this.buffer = Buffer.alloc(0);
    while (!this.done) {
      const next = await this.iterator.next();
      if (next.done === true) this.done = true;
      else yield next.value as Buffer;
    }
  }
}
