/**
 * The `restore-target-non-empty` fault's check: a complete backup restored (without --force) into file
 * targets one of which already holds a file must be refused before anything is written — no other member's
 * file created, the occupied file byte-for-byte unchanged, and a coded refusal.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../../catalog/catalog.ts';
import { asStillpointError } from '../../errors.ts';
import { runRestore } from '../../orchestrator/restore.ts';
import { bankInvariants } from '../bank/bank-invariants.ts';
import type { Random } from './random.ts';

/** Returns violations (empty when the restore was refused up front and nothing changed). */
export async function checkOccupiedRestore(
  catalog: Catalog,
  backupId: string,
  dir: string,
  random: Random,
  signal: AbortSignal,
): Promise<string[]> {
  const members = catalog.get(backupId).members.map((m) => m.name);
  mkdirSync(dir, { recursive: true });
  const occupied = random.pick(members);
  const path = (member: string): string => join(dir, `${member}.db`);
  const junk = `not ${occupied}'s database: a file someone left here\n`;
  writeFileSync(path(occupied), junk);
  const targets = Object.fromEntries(members.map((m) => [m, { path: path(m) }]));
  const violations: string[] = [];
  try {
    const report = await runRestore(catalog, { backupId, targets, invariants: [bankInvariants], signal });
    violations.push(
      `restore into an occupied target (${occupied}) was not refused: it ended ${report.state}`,
    );
  } catch (error) {
    const code = asStillpointError(error).code;
    if (code !== 'RESTORE_TARGET_NOT_EMPTY')
      violations.push(
        `restore into an occupied target (${occupied}) failed with ${code}, not RESTORE_TARGET_NOT_EMPTY`,
      );
  }
  if (readFileSync(path(occupied), 'utf8') !== junk)
    violations.push(`the occupied target of ${occupied} was changed by a refused restore`);
  const written = members.filter((m) => m !== occupied && existsSync(path(m)));
  if (written.length > 0) violations.push(`a refused restore wrote member(s) ${written.join(', ')}`);
  return violations;
}
