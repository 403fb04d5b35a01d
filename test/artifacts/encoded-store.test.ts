/**
 * Compression and envelope encryption over a real local store (the encoding is the same over every store;
 * test/artifacts/remote-backup-restore.test.ts runs it through s3rver): round trip, the header records the
 * key id, a wrong or missing key and any changed or dropped byte are coded errors.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256Stream } from '../../src/artifacts/measure.ts';
import { openArtifactStore } from '../../src/artifacts/open-store.ts';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);

/** 3.5 MiB: half random, half repetitive, in pieces, so it spans several 1 MiB records. */
function payload(): Buffer {
  return Buffer.concat([randomBytes(1792 * 1024), Buffer.alloc(1792 * 1024, 'stillpoint ')]);
}

describe('encoded artifact store (gzip + AES-256-GCM envelopes, real local directory)', () => {
  let dir: string;
  let url: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sp-enc-'));
    url = `${pathToFileURL(join(dir, 'store')).href}?compression=gzip&encryption=local`;
    vi.stubEnv('STILLPOINT_KEK', KEY_A);
    vi.stubEnv('STILLPOINT_KEK_FILE', '');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  const stored = (key: string): string => join(dir, 'store', ...key.split('/'));

  it('round-trips through compression and encryption; the stored object is an envelope naming the key id', async () => {
    const data = payload();
    const store = openArtifactStore(url);
    expect(store.location).toBe(url);
    const ref = await store.put(
      'bk-1/a/snapshot.sqlite',
      Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
    );
    const raw = readFileSync(stored(ref.key));
    expect(ref.bytes).toBe(raw.length);
    expect(raw.length).toBeLessThan(data.length * 0.6); // the repetitive half compressed
    expect(raw.subarray(0, 4).toString()).toBe('SPAE');
    const header = JSON.parse(raw.subarray(9, 9 + raw.readUInt32BE(5)).toString()) as {
      compression: string;
      encryption: { keyId: string };
    };
    expect(header.compression).toBe('gzip');
    expect(header.encryption.keyId).toMatch(/^local:[0-9a-f]{16}$/);
    expect(raw.includes(Buffer.from('stillpoint stillpoint'))).toBe(false);
    // A fresh store object (another process) reads it back byte for byte.
    expect(await sha256Stream(await openArtifactStore(url).get(ref.key))).toEqual({
      sha256: createHash('sha256').update(data).digest('hex'),
      bytes: data.length,
    });
    expect(await store.verify(ref)).toBe(true);
    // Empty artifacts have a final (empty) record too.
    const empty = await store.put('bk-1/a/empty', '');
    expect((await sha256Stream(await store.get(empty.key))).bytes).toBe(0);
  });

  it('a wrong or missing key is a coded error before any byte is returned', async () => {
    const ref = await openArtifactStore(url).put('bk-1/a/x', payload());
    vi.stubEnv('STILLPOINT_KEK', KEY_B);
    await expect(openArtifactStore(url).verify(ref)).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_WRONG' });
    await expect(openArtifactStore(url).get(ref.key)).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_WRONG' });
    vi.stubEnv('STILLPOINT_KEK', '');
    await expect(openArtifactStore(url).get(ref.key)).rejects.toMatchObject({
      code: 'ENCRYPTION_KEY_MISSING',
    });
    await expect(openArtifactStore(url).put('bk-1/a/y', 'x')).rejects.toMatchObject({
      code: 'ENCRYPTION_KEY_MISSING',
    });
    vi.stubEnv('STILLPOINT_KEK', 'abcd');
    expect(() => openArtifactStore(url)).toThrow(expect.objectContaining({ code: 'ENCRYPTION_KEY_INVALID' }));
  });

  it('a flipped byte, or a dropped final record, fails authentication (ARTIFACT_TAMPERED) and verify says false', async () => {
    const store = openArtifactStore(url);
    const ref = await store.put('bk-1/a/x', payload());
    const original = readFileSync(stored(ref.key));
    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
    writeFileSync(stored(ref.key), flipped);
    expect(await store.verify(ref)).toBe(false);
    await expect(sha256Stream(await store.get(ref.key))).rejects.toMatchObject({ code: 'ARTIFACT_TAMPERED' });
    // Truncated after the first record: the reader never saw a final record.
    const headerEnd = 9 + original.readUInt32BE(5);
    const firstRecordEnd = headerEnd + 5 + original.readUInt32BE(headerEnd + 1) + 16;
    writeFileSync(stored(ref.key), original.subarray(0, firstRecordEnd));
    await expect(sha256Stream(await store.get(ref.key))).rejects.toMatchObject({ code: 'ARTIFACT_TAMPERED' });
  });

  it('compression alone (no key needed) and brotli round-trip; unknown options are refused', async () => {
    vi.stubEnv('STILLPOINT_KEK', '');
    const data = payload();
    for (const c of ['gzip', 'brotli']) {
      const store = openArtifactStore(`${pathToFileURL(join(dir, c)).href}?compression=${c}`);
      const ref = await store.put('k', data);
      expect(ref.bytes).toBeLessThan(data.length);
      expect((await sha256Stream(await store.get('k'))).sha256).toBe(
        createHash('sha256').update(data).digest('hex'),
      );
    }
    expect(() => openArtifactStore(`${pathToFileURL(dir).href}?compression=lz4`)).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_STORE_URL_INVALID' }),
    );
  });
});
