/**
 * A trial after its backup process ended: what a rerun does first for a killed orchestrator (recovery), how the
 * catalog classifies the backup, and the restores of a complete backup — each under the trial's restore fault
 * (a kill and resume, a missing key, an occupied target) and then checked whole (./restore-check.ts).
 */
import { join } from 'node:path';
import { openCatalog } from '../../catalog/catalog.ts';
import { asStillpointError } from '../../errors.ts';
import { resumeIncomplete } from '../../orchestrator/recovery.ts';
import { loadPlan } from '../../plan/load-plan.ts';
import type { TrialPlan } from './backup-process.ts';
import type { BackupOutcome, FaultKind } from './faults.ts';
import type { TrialGroupServers } from './group.ts';
import { checkKeyMissingRestore } from './key-missing-restore.ts';
import { checkOccupiedRestore } from './occupied-restore.ts';
import type { Random } from './random.ts';
import { restoreFromCatalog } from './restore-check.ts';
import { restoreKilledAndResumed } from './restore-kill.ts';

export interface RestoreChecks {
  readonly plan: TrialPlan;
  /** A complete backup of the trial. */
  readonly backupId: string;
  readonly fault: FaultKind;
  /** The trial's directory: restored copies go under it. */
  readonly dir: string;
  readonly servers: TrialGroupServers;
  readonly random: Random;
  readonly signal: AbortSignal;
  /** The artifacts were written encrypted (fault `encryption-key-missing`): the key file a restore must lack. */
  readonly encrypted?: { readonly keyFile: string };
}

/**
 * Restores a complete backup and checks it, with the trial's restore fault first: every finding is a
 * violation line. `faultDetail`: what the restore-kill fault did (it replaces the trial's fault detail).
 */
export async function checkRestores(
  input: RestoreChecks,
): Promise<{ violations: string[]; faultDetail?: string }> {
  const { plan, backupId: id, random, signal } = input;
  const violations: string[] = [];
  let faultDetail: string | undefined;
  const into = join(input.dir, 'restored');
  const target = (m: Parameters<TrialGroupServers['restoreTarget']>[0]) =>
    input.servers.restoreTarget(m, into, random);
  if (input.encrypted !== undefined) {
    const keyFile = input.encrypted.keyFile;
    const keyless = await withCatalog(plan, (catalog) =>
      checkKeyMissingRestore(catalog, id, keyFile, join(input.dir, 'keyless'), random, signal),
    );
    for (const v of keyless) violations.push(`restore without the key: ${v}`);
  }
  if (input.fault === 'restore-kill') {
    const killed = await restoreKilledAndResumed(plan, id, target, random);
    faultDetail = killed.note;
    for (const v of killed.violations) violations.push(`restore after a kill: ${v}`);
  }
  const restored = await withCatalog(plan, (catalog) =>
    restoreFromCatalog(catalog, id, target, signal),
  ).catch((error: unknown) => [`restore failed: ${asStillpointError(error).message}`]);
  for (const v of restored) violations.push(`restored: ${v}`);
  if (input.fault === 'restore-target-non-empty') {
    const refused = await withCatalog(plan, (catalog) =>
      checkOccupiedRestore(catalog, id, join(input.dir, 'occupied'), random, signal),
    );
    for (const v of refused) violations.push(`occupied target: ${v}`);
  }
  return faultDetail === undefined ? { violations } : { violations, faultDetail };
}

/** What a rerun of `stillpoint backup` does first: finish the unpause and classify what a dead orchestrator left. */
export async function recover(plan: TrialPlan, violations: string[]): Promise<void> {
  try {
    // [ownership] The trial ended the orchestrator itself, so it need not wait out the heartbeat's stale bound
    // (2 × lease + 5 s): judge staleness as if that time had passed.
    const now = (): number => Date.now() + 10 * 60_000;
    await withCatalog(plan, (catalog) => resumeIncomplete(catalog, { plan: loadPlan(plan.file), now }));
  } catch (error) {
    violations.push(`recovery after the crash failed: ${asStillpointError(error).message}`);
  }
}

export function readOutcome(
  plan: TrialPlan,
  id: string | null,
): { outcome: BackupOutcome; reason: string | null; backupId: string | null } {
  return withCatalogSync(plan, (catalog) => {
    const record = id === null ? catalog.list().at(-1) : catalog.find(id);
    if (record === undefined) return { outcome: 'none', reason: null, backupId: id };
    const state = record.state;
    const outcome: BackupOutcome =
      state === 'complete' || state === 'invalid' || state === 'failed' ? state : 'none';
    return {
      outcome,
      reason: outcome === 'none' ? `left in state ${state}` : record.reason,
      backupId: record.id,
    };
  });
}

function withCatalogSync<T>(plan: TrialPlan, fn: (catalog: ReturnType<typeof openCatalog>) => T): T {
  const catalog = openCatalog(plan.catalogPath);
  try {
    return fn(catalog);
  } finally {
    catalog.close();
  }
}

async function withCatalog<T>(
  plan: TrialPlan,
  fn: (catalog: ReturnType<typeof openCatalog>) => Promise<T>,
): Promise<T> {
  const catalog = openCatalog(plan.catalogPath);
  try {
    return await fn(catalog);
  } finally {
    catalog.close();
  }
}
