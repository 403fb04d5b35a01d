/**
 * Recovery after an orchestrator died (SIGKILL, OOM, a lost machine). Its backups are left in a
 * non-terminal state. The targets it paused were stored in the catalog before pausing, so they can be
 * unpaused now (their leases will have reopened them already in most cases; Unpause is idempotent). A
 * capture's held resources (a read transaction, an exported snapshot) died with the process, so such a
 * backup cannot be finished: it is classified `failed` with reason ORCHESTRATOR_DIED.
 */
import { hostname } from 'node:os';
import type { BackupRecord, Catalog } from '../catalog/catalog.ts';
import { PAUSE_HELD_STATES } from '../catalog/catalog-schema.ts';
import type { TargetStatus } from '../pause/contract.ts';
import type { Plan } from '../plan/load-plan.ts';
import { defaultPauseDeps } from './deps.ts';
import type { EventSink } from './events.ts';
import { connectionOf, type PauseDeps } from './pause-phase.ts';

export interface RecoveredBackup {
  readonly backupId: string;
  readonly previousState: string;
  readonly unpaused: boolean;
  readonly targets: readonly TargetStatus[];
}

export interface ResumeOptions {
  /** Supplies TLS and tokens of the clusters by name (targets without a matching cluster use plaintext). */
  readonly plan?: Plan;
  readonly deps?: Partial<PauseDeps>;
  readonly onEvent?: EventSink;
  /** Also take over backups owned by another host (default false: they may still be running there). */
  readonly takeOverForeign?: boolean;
}

/** Finds backups whose orchestrator is gone, unpauses their targets, and classifies them failed. */
export async function resumeIncomplete(catalog: Catalog, options: ResumeOptions = {}): Promise<RecoveredBackup[]> {
  const deps = { ...defaultPauseDeps(), ...options.deps };
  const recovered: RecoveredBackup[] = [];
  for (const backup of catalog.incomplete()) {
    if (!ownerIsGone(backup, options.takeOverForeign ?? false)) continue;
    let targets: TargetStatus[] = [];
    let unpaused = true;
    if (PAUSE_HELD_STATES.includes(backup.state)) {
      for (const stored of backup.targets) {
        const cluster = options.plan?.clusters.find((c) => c.name === stored.cluster);
        const client = deps.createPauseClient(cluster ? connectionOf(cluster) : {});
        try {
          const result = await client.unpauseAll(stored.targets);
          unpaused &&= result.ok;
          targets = targets.concat(result.targets);
        } finally {
          client.close();
        }
      }
    }
    const reason = `ORCHESTRATOR_DIED: the orchestrator (pid ${backup.owner?.pid ?? '?'}) stopped in state ${backup.state}${
      unpaused ? '' : '; some targets did not confirm the unpause (their lease reopens them)'
    }`;
    catalog.transition(backup.id, 'failed', { reason });
    options.onEvent?.({ type: 'state', backupId: backup.id, state: 'failed', attempt: Math.max(1, backup.attempts), reason });
    recovered.push({ backupId: backup.id, previousState: backup.state, unpaused, targets });
  }
  return recovered;
}

function ownerIsGone(backup: BackupRecord, takeOverForeign: boolean): boolean {
  if (backup.owner === null) return true;
  if (backup.owner.host !== hostname()) return takeOverForeign;
  if (backup.owner.pid === process.pid) return false;
  try {
    process.kill(backup.owner.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else, so it is alive.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
