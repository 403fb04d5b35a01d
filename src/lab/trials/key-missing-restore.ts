/**
 * The `encryption-key-missing` fault. The trial's artifacts are encrypted (`?encryption=local`, the key in a
 * file STILLPOINT_KEK_FILE names); after a complete backup the key file is moved away and the backup is
 * restored into fresh file targets. The restore must fail with ENCRYPTION_KEY_MISSING and write nothing (no
 * target file, nothing under the targets' directory); the key is then put back, and the trial's usual
 * restore check (./restore-check.ts) must succeed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Catalog } from '../../catalog/catalog.ts';
import { asStillpointError } from '../../errors.ts';
import { bankInvariants } from '../bank/bank-invariants.ts';
import { runRestore } from '../../orchestrator/restore.ts';
import type { Random } from './random.ts';
import { restoreTarget } from './groups/targets.ts';

/** A fresh key in `dir` for this trial, set as STILLPOINT_KEK_FILE; returns the store URL and an undo. */
export async function encryptedArtifacts(
  dir: string,
  artifactsDir: string,
): Promise<{ url: string; keyFile: string; restoreEnv: () => void }> {
  const keyFile = join(dir, 'kek.hex');
  await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const before = process.env.STILLPOINT_KEK_FILE;
  process.env.STILLPOINT_KEK_FILE = keyFile;
  return {
    url: `${pathToFileURL(artifactsDir).href}?encryption=local`,
    keyFile,
    restoreEnv: () => {
      if (before === undefined) delete process.env.STILLPOINT_KEK_FILE;
      else process.env.STILLPOINT_KEK_FILE = before;
    },
  };
}

/** Violations (sentences) of a restore run without the key. */
export async function checkKeyMissingRestore(
  catalog: Catalog,
  backupId: string,
  keyFile: string,
  into: string,
  random: Random,
  signal: AbortSignal,
): Promise<string[]> {
  const moved = `${keyFile}.moved`;
  await rename(keyFile, moved);
  const problems: string[] = [];
  try {
    const record = catalog.get(backupId);
    const targets = Object.fromEntries(
      record.members.map((m) => [m.name, restoreTarget(m.spec, into, random)]),
    );
    try {
      await runRestore(catalog, { backupId, targets, force: false, invariants: [bankInvariants], signal });
      problems.push('the restore succeeded without the encryption key');
    } catch (error) {
      const code = asStillpointError(error).code;
      if (code !== 'ENCRYPTION_KEY_MISSING')
        problems.push(`the restore without the key failed with ${code}, not ENCRYPTION_KEY_MISSING`);
    }
    for (const [name, target] of Object.entries(targets)) {
      if ('path' in target && typeof target.path === 'string' && existsSync(target.path))
        problems.push(`member ${name}'s target ${target.path} was written by a restore without the key`);
    }
    const left = existsSync(into) ? await readdir(into) : [];
    if (left.length > 0) problems.push(`the restore without the key left ${left.join(', ')} in ${into}`);
  } finally {
    await rename(moved, keyFile);
  }
  return problems;
}
