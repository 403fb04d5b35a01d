/**
 * The `artifacts-lost-midway` fault puts a file where the artifact directory was. The running backup can
 * create the directory again between the fault's rename and its write; the write then met a directory
 * (EISDIR) and the rejection ended a whole campaign. The fault now removes what was recreated and writes again.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replaceWithFile } from '../../src/lab/trials/fault-apply.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('artifacts-lost-midway', () => {
  it('replaces a directory the backup created again (with files in it) by a file', async () => {
    const base = await mkdtemp(join(tmpdir(), 'artifacts-lost-'));
    dirs.push(base);
    const dir = join(base, 'artifacts');
    mkdirSync(join(dir, 'pg'), { recursive: true });
    writeFileSync(join(dir, 'pg', 'part'), 'written after the fault');
    await replaceWithFile(dir);
    expect(statSync(dir).isFile()).toBe(true);
    expect(readFileSync(dir, 'utf8')).toBe('not a directory\n');
  });
});
