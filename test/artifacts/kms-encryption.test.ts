/**
 * `?encryption=kms&key=<arn>`: the product's real @aws-sdk/client-kms code against the KMS fake
 * (src/lab/fakes/kms-fake.ts, KMS's JSON wire protocol on loopback), over a real local directory store.
 * Each artifact gets its own data key from GenerateDataKey; reads Decrypt the wrap named in the header;
 * an unknown or disabled key, or a wrap swapped in from another artifact, is a coded error with nothing
 * written or restored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256Stream } from '../../src/artifacts/measure.ts';
import { openArtifactStore } from '../../src/artifacts/open-store.ts';
import { KmsFake } from '../../src/lab/fakes/kms-fake.ts';

const data = Buffer.concat([randomBytes(1500 * 1024), Buffer.alloc(1500 * 1024, 'kms ')]);
const digest = createHash('sha256').update(data).digest('hex');

function headerOf(raw: Buffer): { encryption: { keyId: string; wrappedKey: string } } {
  return JSON.parse(raw.subarray(9, 9 + raw.readUInt32BE(5)).toString()) as {
    encryption: { keyId: string; wrappedKey: string };
  };
}

describe('KMS envelope encryption (real KMS SDK against the KMS fake)', () => {
  const kms = new KmsFake('eu-west-1');
  let dir: string;
  beforeAll(async () => {
    await kms.start();
  });
  afterAll(async () => {
    await kms.stop();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sp-kms-'));
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAFAKE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'fake-secret');
    vi.stubEnv('AWS_ENDPOINT_URL_KMS', kms.endpoint);
    vi.stubEnv('STILLPOINT_KEK', '');
    vi.stubEnv('STILLPOINT_KEK_FILE', '');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  const urlFor = (arn: string): string =>
    `${pathToFileURL(join(dir, 'store')).href}?compression=gzip&encryption=kms&key=${encodeURIComponent(arn)}`;
  const stored = (key: string): string => join(dir, 'store', ...key.split('/'));

  it('one GenerateDataKey per artifact; the header names the key ARN; another process Decrypts it', async () => {
    const arn = kms.createKey();
    const store = openArtifactStore(urlFor(arn));
    const before = kms.calls.length;
    const a = await store.put('bk-1/m/a', data);
    const b = await store.put('bk-1/m/b', data);
    expect(kms.calls.slice(before)).toEqual(['GenerateDataKey', 'GenerateDataKey']);
    const ha = headerOf(readFileSync(stored(a.key)));
    const hb = headerOf(readFileSync(stored(b.key)));
    expect(ha.encryption.keyId).toBe(`kms:${arn}`);
    expect(ha.encryption.wrappedKey).not.toBe(hb.encryption.wrappedKey);
    expect(readFileSync(stored(a.key)).includes(Buffer.from('kms kms kms'))).toBe(false);
    const reader = openArtifactStore(urlFor(arn));
    expect((await sha256Stream(await reader.get(a.key))).sha256).toBe(digest);
    expect(await reader.verify(b)).toBe(true);
    expect(kms.calls.filter((c) => c === 'Decrypt').length).toBeGreaterThanOrEqual(2);
  });

  it('an unknown key ARN: KMS_KEY_UNUSABLE with a hint, and nothing is written', async () => {
    const missing = 'arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000';
    const error = await openArtifactStore(urlFor(missing))
      .put('bk-2/m/a', data)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KMS_KEY_UNUSABLE', context: { kmsError: 'NotFoundException' } });
    expect((error as { hint: string }).hint).toMatch(/key ARN/);
    expect(readdirSync(dir)).toEqual([]);
    expect(() => openArtifactStore(`${pathToFileURL(dir).href}?encryption=kms`)).toThrow(
      expect.objectContaining({ code: 'ENCRYPTION_KEY_MISSING' }),
    );
  });

  it('a disabled key refuses the restore before any byte; a wrap swapped from another key is ENCRYPTION_KEY_WRONG', async () => {
    const arn = kms.createKey();
    const other = kms.createKey();
    const store = openArtifactStore(urlFor(arn));
    const ref = await store.put('bk-3/m/a', data);
    const foreign = await openArtifactStore(urlFor(other)).put('bk-3/m/b', data);

    // Swap b's wrapped key (made under `other`) into a's header, keeping a's key id: KMS refuses it.
    const raw = readFileSync(stored(ref.key));
    const header = headerOf(raw);
    const swapped = {
      ...header,
      encryption: {
        ...header.encryption,
        wrappedKey: headerOf(readFileSync(stored(foreign.key))).encryption.wrappedKey,
      },
    };
    const json = Buffer.from(JSON.stringify(swapped));
    const prefix = Buffer.from(raw.subarray(0, 9));
    prefix.writeUInt32BE(json.length, 5);
    const tampered = join(dir, 'store', 'bk-3', 'm', 'c');
    writeFileSync(tampered, Buffer.concat([prefix, json, raw.subarray(9 + raw.readUInt32BE(5))]));
    await expect(store.get('bk-3/m/c')).rejects.toMatchObject({ code: 'ENCRYPTION_KEY_WRONG' });

    kms.disableKey(arn);
    await expect(openArtifactStore(urlFor(arn)).get(ref.key)).rejects.toMatchObject({
      code: 'KMS_KEY_UNUSABLE',
      context: { kmsError: 'DisabledException' },
    });
    await expect(openArtifactStore(urlFor(arn)).verify(ref)).rejects.toMatchObject({
      code: 'KMS_KEY_UNUSABLE',
    });
  });
});
