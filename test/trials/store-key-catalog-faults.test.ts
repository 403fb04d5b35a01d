/**
 * The fault kinds issue 18 adds, one SQLite trial each with a fixed seed: the artifact store (S3 through
 * s3rver or Azure Blob through Azurite, behind a TCP proxy) unreachable, slow, or failing part-way; the
 * encryption key missing at restore; the backup process killed at a catalog write. Zero violations, and each
 * ends the way its fault demands. The catalog check itself is shown to fail on a damaged catalog.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { checkCatalogReadable } from '../../src/lab/trials/catalog-kill.ts';
import { runCleanTrials } from './support.ts';

describe('trials: issue 18 fault kinds', () => {
  it('artifact store unreachable / slow / failing midway, key missing at restore, catalog killed mid-write: 0 violations', async () => {
    const { detail, byFault } = await runCleanTrials({
      trials: 5,
      seed: 5,
      groups: ['sqlite'],
      faults: [
        'artifact-store-unreachable',
        'artifact-store-slow',
        'artifact-store-fails-midway',
        'encryption-key-missing',
        'catalog-kill-midwrite',
      ],
      sizes: { nodes: 2 },
    });
    // A store that resets every connection: the backup cannot complete.
    expect(byFault('artifact-store-unreachable')?.outcome, detail).not.toBe('complete');
    expect(byFault('artifact-store-unreachable')?.faultDetail, detail).toMatch(/(s3|azblob) artifact store/);
    expect(byFault('artifact-store-slow')?.faultDetail, detail).toMatch(/delayed/);
    // The keyless restore was refused (checked inside the trial), then the restore with the key passed.
    expect(byFault('encryption-key-missing')?.outcome, detail).toBe('complete');
    expect(byFault('encryption-key-missing')?.restoreChecked, detail).toBe(true);
    expect(byFault('catalog-kill-midwrite')?.faultApplied, detail).toBe(true);
    expect(['complete', 'invalid', 'failed']).toContain(byFault('catalog-kill-midwrite')?.outcome);
  }, 900_000);

  it('the catalog check passes a whole catalog and fails a damaged one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'catalog-check-'));
    try {
      const good = join(dir, 'good.db');
      openCatalog(good).close();
      expect(checkCatalogReadable(good)).toEqual([]);
      const bad = join(dir, 'bad.db');
      writeFileSync(bad, 'SQLite format 3\0 but not really a database, just bytes'.repeat(100));
      expect(checkCatalogReadable(bad)).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
