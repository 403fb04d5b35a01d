import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openArtifactStore } from '../../src/artifacts/open-store.ts';

describe('openArtifactStore (real local directories)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sp-store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens the same local store from a file:/// URL and from a plain path', async () => {
    const root = join(dir, 'store');
    const byUrl = openArtifactStore(pathToFileURL(root).href);
    const byPath = openArtifactStore(root);
    expect(byUrl.location).toBe(root);
    expect(byPath.location).toBe(root);
    const ref = await byUrl.put('bk-1/a/x.db', 'hello');
    expect(await byPath.verify(ref)).toBe(true);
  });

  it('opens s3:// stores, and refuses unknown schemes as invalid', () => {
    expect(openArtifactStore('s3://bucket/prefix').location).toBe('s3://bucket/prefix');
    expect(() => openArtifactStore('ftp://host/x')).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_STORE_URL_INVALID' }),
    );
    expect(() => openArtifactStore('file://remote-host/x')).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_STORE_URL_INVALID' }),
    );
    expect(() => openArtifactStore('  ')).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_STORE_URL_INVALID' }),
    );
  });

  it('writes artifacts 0600 in directories 0700 (issue 11 row 14)', async () => {
    const store = openArtifactStore(join(dir, 'store'));
    await store.put('bk-1/a/snapshot.sqlite', 'data');
    const mode = (p: string): number => statSync(p).mode & 0o777;
    expect(mode(store.localPath('bk-1/a/snapshot.sqlite')!)).toBe(0o600);
    expect(mode(join(dir, 'store', 'bk-1', 'a'))).toBe(0o700);
    expect(mode(join(dir, 'store', 'bk-1'))).toBe(0o700);
  });

  it('an interrupted write leaves only a temp file, listed as a partial write and removable; list() never shows it', async () => {
    const store = openArtifactStore(join(dir, 'store'));
    await store.put('bk-1/a/done.db', 'ok');
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('disk went away'));
      },
    });
    await expect(store.put('bk-1/a/snapshot.sqlite', failing)).rejects.toMatchObject({
      code: 'ARTIFACT_WRITE_FAILED',
    });
    // A crash (no catch block ran) leaves the temp file behind: simulate it the way the process would leave it.
    writeFileSync(join(dir, 'store', 'bk-1', 'a', 'snapshot.sqlite.tmp-deadbeef'), 'half');
    expect(await store.list('bk-1/')).toEqual(['bk-1/a/done.db']);
    const partial = await store.listPartialWrites();
    expect(partial.map((p) => p.name)).toEqual(['bk-1/a/snapshot.sqlite.tmp-deadbeef']);
    expect(partial[0]!.bytes).toBe(4);
    await expect(store.removePartialWrite('bk-1/a/done.db')).rejects.toMatchObject({
      code: 'ARTIFACT_KEY_INVALID',
    });
    await store.removePartialWrite(partial[0]!.name);
    expect(await store.listPartialWrites()).toEqual([]);
    expect(await store.exists('bk-1/a/done.db')).toBe(true);
  });
});
