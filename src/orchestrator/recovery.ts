/**
 * Recovery after an orchestrator was lost (SIGKILL, OOM, a lost machine or pod, a partition). Its backups
 * are left in a non-terminal state and their heartbeat stops (./ownership.ts). Any run on any host that
 * shares the catalog classifies a backup whose heartbeat is stale: the targets it paused were stored in the
 * catalog before pausing, so they are unpaused now — servers that honour the lease have reopened already,
 * upstream scalar-admin servers (no lease) stay paused until this Unpause; Unpause is idempotent. A
 * capture's held resources (a read transaction, an exported snapshot) died with the process, so such a
 * backup cannot be finished: it is classified `failed` with reason ORCHESTRATOR_DIED.
 *
 * A backup whose heartbeat is fresh is left alone, wherever its owner runs; a target that a live backup of
 * the catalog holds paused is not unpaused on behalf of a stale one.
 */
import { heartbeatAgeMs, isStale, type BackupRecord, type Catalog } from '../catalog/catalog.ts';
import { PAUSE_HELD_STATES, TERMINAL_STATES } from '../catalog/catalog-schema.ts';
import type { TargetStatus } from '../pause/contract.ts';
import type { Plan } from '../plan/load-plan.ts';
import { defaultPauseDeps } from './deps.ts';
import type { EventSink } from './events.ts';
import { connectionOf, type PauseDeps } from './pause-phase.ts';

export interface RecoveredBackup {
  readonly backupId: string;
  readonly previousState: string;
  readonly ownerId: string | null;
  /** Age of the last heartbeat when the backup was judged lost (null: none was ever recorded). */
  readonly heartbeatAgeMs: number | null;
  readonly unpaused: boolean;
  readonly targets: readonly TargetStatus[];
  /** Targets left alone because a live backup holds them paused. */
  readonly skippedTargets: readonly string[];
  readonly reason: string;
}

export interface ResumeOptions {
  /** Supplies TLS and tokens of the clusters by name (targets without a matching cluster use plaintext). */
  readonly plan?: Plan;
  readonly deps?: Partial<PauseDeps>;
  readonly onEvent?: EventSink;
  /** The clock staleness is judged by (default Date.now). */
  readonly now?: () => number;
}

/** Finds backups whose owner's heartbeat is stale, unpauses their targets, and classifies them failed. */
export async function resumeIncomplete(
  catalog: Catalog,
  options: ResumeOptions = {},
): Promise<RecoveredBackup[]> {
  const deps = { ...defaultPauseDeps(), ...options.deps };
  const now = options.now ?? Date.now;
  const recovered: RecoveredBackup[] = [];
  for (const candidate of catalog.incomplete()) {
    if (!isStale(candidate.owner, now())) continue;
    // Read again right before acting: the owner may have renewed since the list was read.
    const backup = catalog.find(candidate.id);
    if (backup === undefined || TERMINAL_STATES.includes(backup.state) || !isStale(backup.owner, now()))
      continue;
    const age = backup.owner === null ? null : heartbeatAgeMs(backup.owner, now());
    const { unpaused, targets, skipped } = await unpauseStored(
      backup,
      heldByLiveBackups(catalog, backup.id, now()),
      deps,
      options.plan,
    );
    const reason =
      `ORCHESTRATOR_DIED: the orchestrator (owner ${backup.owner?.ownerId ?? 'unknown'}) stopped in state ${backup.state}; ` +
      `its last heartbeat was ${age === null ? 'never recorded' : `${age} ms ago (bound ${backup.owner!.staleAfterMs} ms)`}` +
      (unpaused ? '' : '; some targets did not confirm the unpause (their lease, if any, reopens them)');
    if (!catalog.failIfStale(backup.id, backup.owner?.heartbeatAtMs ?? null, reason)) continue;
    options.onEvent?.({
      type: 'state',
      backupId: backup.id,
      state: 'failed',
      attempt: Math.max(1, backup.attempts),
      reason,
    });
    recovered.push({
      backupId: backup.id,
      previousState: backup.state,
      ownerId: backup.owner?.ownerId ?? null,
      heartbeatAgeMs: age,
      unpaused,
      targets,
      skippedTargets: skipped,
      reason,
    });
  }
  return recovered;
}

/** Labels of targets held paused by live (fresh-heartbeat) backups other than `exceptId`. */
function heldByLiveBackups(catalog: Catalog, exceptId: string, nowMs: number): Set<string> {
  const held = new Set<string>();
  for (const b of catalog.incomplete()) {
    if (b.id === exceptId || isStale(b.owner, nowMs) || !PAUSE_HELD_STATES.includes(b.state)) continue;
    for (const c of b.targets) for (const t of c.targets) held.add(`${c.cluster}/${t.label}`);
  }
  return held;
}

async function unpauseStored(
  backup: BackupRecord,
  heldByLive: ReadonlySet<string>,
  deps: PauseDeps,
  plan: Plan | undefined,
): Promise<{ unpaused: boolean; targets: TargetStatus[]; skipped: string[] }> {
  let targets: TargetStatus[] = [];
  const skipped: string[] = [];
  let unpaused = true;
  if (!PAUSE_HELD_STATES.includes(backup.state)) return { unpaused, targets, skipped };
  for (const stored of backup.targets) {
    const mine = stored.targets.filter((t) => !heldByLive.has(`${stored.cluster}/${t.label}`));
    skipped.push(
      ...stored.targets.filter((t) => !mine.includes(t)).map((t) => `${stored.cluster}/${t.label}`),
    );
    if (mine.length === 0) continue;
    const cluster = plan?.clusters.find((c) => c.name === stored.cluster);
    const client = deps.createPauseClient(cluster ? connectionOf(cluster) : {});
    try {
      const result = await client.unpauseAll(mine);
      unpaused &&= result.ok;
      targets = targets.concat(result.targets);
    } finally {
      client.close();
    }
  }
  return { unpaused, targets, skipped };
}
