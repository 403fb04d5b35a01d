/**
 * Swapping names after an RDS instance restore (target `swapNames`, only with --force): once the restored
 * instance is available, the source is renamed out of the way to `<source>-pre-restore-<suffix>`, then the
 * restored instance takes the source's name — clients that address the source by name (its endpoint's DNS
 * name follows the identifier) reach the restored data. Nothing is deleted: the old source stays, renamed.
 *
 * Each rename is one persisted step, and each is idempotent on re-run: a rename already applied (the new
 * name exists, or the source's name already carries this restore's tag) is not asked again, so a crash
 * between the two renames resumes to the same end state. RDS renames are asynchronous (status
 * `renaming`, then the old name is free), so each rename is followed by a wait for the new name.
 */
import { ConfigError } from '../../../errors.ts';
import type { RestoreStep } from '../../contract.ts';
import { restoreTag } from '../../managed-restore.ts';
import type { RdsControlPlane, RdsEndpoint, RdsResource } from '../control-plane.ts';

export interface SwapNames {
  readonly source: string;
  readonly restored: string;
  /** Where the source goes: `<source>-pre-restore-<suffix>`. */
  readonly parked: string;
  readonly backupId: string;
}

export const parkedName = (source: string, suffix: string): string =>
  `${source}-pre-restore-${suffix}`.slice(0, 63);

/** Refuses a swap that cannot run: Aurora clusters, or no --force. */
export function refuseSwap(o: { cluster: boolean; force: boolean; context: Record<string, string> }): void {
  if (o.cluster)
    throw new ConfigError(
      'MANAGED_RENAME_UNSUPPORTED',
      'swapNames is supported for RDS instances only, not for Aurora clusters.',
      {
        context: o.context,
        hint: 'Leave swapNames out: the restored group config points at the new cluster’s endpoint.',
      },
    );
  if (!o.force)
    throw new ConfigError(
      'MANAGED_SWAP_NEEDS_FORCE',
      'swapNames renames the live source instance out of the way; that needs --force.',
      {
        context: o.context,
        hint: 'Pass --force to swap names, or leave swapNames out to restore next to the source under a new name.',
      },
    );
}

/** The dry-run lines of a swap. */
export function swapPlan(s: SwapNames): RestoreStep[] {
  const rename = (from: string, to: string) =>
    `ModifyDBInstance DBInstanceIdentifier=${from} NewDBInstanceIdentifier=${to} ApplyImmediately=true`;
  const wait = (id: string) =>
    `DescribeDBInstances DBInstanceIdentifier=${id} until DBInstanceStatus=available`;
  return [
    {
      title: `rename the source ${s.source} to ${s.parked}`,
      detail: rename(s.source, s.parked),
      destructive: true,
    },
    { title: `wait for ${s.parked}`, detail: wait(s.parked), destructive: false },
    { title: `rename ${s.restored} to ${s.source}`, detail: rename(s.restored, s.source), destructive: true },
    { title: `wait for ${s.source}`, detail: wait(s.source), destructive: false },
  ];
}

/** True when `r` is the restored instance of this backup. */
export const isRestoreOf = (r: RdsResource | undefined, backupId: string): boolean =>
  r?.tags.some((t) => t.key === restoreTag && t.value === backupId) === true;

/**
 * Runs the swap; `step(name, run)` persists each finished step (skipped when already done). Returns the
 * endpoint of the instance now named `source` (the restored one).
 */
export async function swapNames(
  cp: RdsControlPlane,
  s: SwapNames,
  step: (name: 'rename-source' | 'rename-restored', run: () => Promise<void>) => Promise<void>,
  wait: (describe: () => Promise<RdsResource | undefined>, what: string) => Promise<RdsEndpoint>,
): Promise<RdsEndpoint> {
  await step('rename-source', async () => {
    if ((await cp.describeInstance(s.parked)) !== undefined) return; // renamed before a crash
    if (isRestoreOf(await cp.describeInstance(s.source), s.backupId)) return; // the whole swap already happened
    await cp.renameInstance(s.source, s.parked);
  });
  await wait(() => cp.describeInstance(s.parked), `instance ${s.parked}`);
  await step('rename-restored', async () => {
    if (isRestoreOf(await cp.describeInstance(s.source), s.backupId)) return;
    await cp.renameInstance(s.restored, s.source);
  });
  return wait(async () => {
    const r = await cp.describeInstance(s.source);
    return isRestoreOf(r, s.backupId) ? r : undefined; // until the rename landed, the name may still be free
  }, `instance ${s.source}`);
}
