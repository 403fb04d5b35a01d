/**
 * The one way every store measures what it writes: a pass-through Transform that hashes (sha256) and counts
 * the bytes streaming through, so no store ever holds an artifact whole to checksum it.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';

export interface Measured {
  readonly stream: Transform;
  /** sha256 (hex) and size of everything that passed through; valid once the stream has ended. */
  result(): { sha256: string; bytes: number };
}

export function measure(): Measured {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ sha256: hash.digest('hex'), bytes }) };
}

/** sha256 and size of a stream, read to its end. */
export async function sha256Stream(
  source: AsyncIterable<unknown>,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    const buf = chunk as Buffer;
    hash.update(buf);
    bytes += buf.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** A Readable for whatever `put` accepts. */
export function toReadable(source: Readable | Uint8Array | string): Readable {
  return source instanceof Readable ? source : Readable.from([Buffer.from(source)]);
}

/** Joins a store prefix and a key (`prefix/key`, no doubled or leading slash). */
export function joinKey(prefix: string, key: string): string {
  return prefix.length === 0 ? key : `${prefix}/${key}`;
}

/** Refuses keys that are empty, absolute or contain `..` segments (same rule as the local store). */
export function isSafeKey(key: string): boolean {
  return (
    key.length > 0 && !key.startsWith('/') && !key.split('/').some((s) => s === '..' || s === '.' || s === '')
  );
}
