/**
 * Group-aware retention. A backup is a group (every member's handle plus the artifacts they need), and
 * shared artifacts (base backups, archived WAL / binlogs under `shared/`) are removed only when no
 * retained backup references them any more.
 */
import { openArtifactStore } from '../artifacts/open-store.ts';
import { CatalogError, ConfigError } from '../errors.ts';
import { parseDuration, type DurationBounds } from '../duration.ts';
import { heartbeatAgeMs, isStale, type BackupRecord, type Catalog } from './catalog.ts';
import { TERMINAL_STATES } from './catalog-schema.ts';
import type { ArtifactStore } from '../artifacts/contract.ts';
import { MANIFEST_NAME, readManifest } from './manifest.ts';

export interface PrunePolicy {
  /** Keep the N newest `complete` backups. */
  readonly keepLast?: number;
  /** Keep every backup created within this many ms of `now`. */
  readonly keepWithinMs?: number;
  /**
   * Allow the policy to remove the newest complete backup of a group (default false: each group always keeps
   * its newest complete backup, whatever the policy says, so no policy can leave a group unrestorable).
   */
  readonly allowEmpty?: boolean;
  readonly now?: number;
}

export interface PruneDecision {
  readonly keep: readonly string[];
  readonly remove: readonly string[];
  /** Kept only because each is the newest complete backup of its group (see {@link PrunePolicy.allowEmpty}). */
  readonly keptAsNewestComplete: readonly string[];
}

export interface DeleteOutcome {
  readonly backupId: string;
  readonly removedKeys: readonly string[];
  /** Shared keys this backup referenced that a retained backup still needs. */
  readonly keptShared: readonly string[];
  /**
   * Backups known only from manifests in the store (another catalog's, or not yet synced) whose references
   * kept shared keys; or `*unreadable*` when a manifest could not be read, and every shared key was kept.
   */
  readonly keptForStoreBackups?: readonly string[];
}

/**
 * Decides which backups a policy keeps. Backups still in progress are always kept; an older failed or
 * invalid backup is removed unless `keepWithinMs` covers it; the newest complete backup of every group is
 * kept unless `allowEmpty`.
 */
export function planPrune(records: readonly BackupRecord[], policy: PrunePolicy): PruneDecision {
  if (policy.keepLast === undefined && policy.keepWithinMs === undefined) {
    throw new ConfigError('PRUNE_POLICY_MISSING', 'prune needs --keep-last and/or --keep-within.', {
      hint: 'For example: `stillpoint backups prune --keep-last 7 --keep-within 14d`.',
    });
  }
  const now = policy.now ?? Date.now();
  const newestComplete = records
    .filter((r) => r.state === 'complete')
    // Newest first by creation time (ISO, ms): ids carry only the second, then a random tail.
    .sort((a, b) =>
      a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1,
    )
    .slice(0, policy.keepLast ?? 0)
    .map((r) => r.id);
  const floor = new Set<string>();
  if (policy.allowEmpty !== true) {
    const newestPerGroup = new Map<string, string>();
    for (const r of records) {
      const seen = newestPerGroup.get(r.group);
      if (r.state === 'complete' && (seen === undefined || r.id > seen)) newestPerGroup.set(r.group, r.id);
    }
    for (const id of newestPerGroup.values()) floor.add(id);
  }
  const keep: string[] = [];
  const remove: string[] = [];
  const keptAsNewestComplete: string[] = [];
  for (const r of records) {
    const inProgress = !TERMINAL_STATES.includes(r.state);
    const recent = policy.keepWithinMs !== undefined && now - Date.parse(r.createdAt) <= policy.keepWithinMs;
    if (inProgress || recent || newestComplete.includes(r.id)) keep.push(r.id);
    else if (floor.has(r.id)) {
      keep.push(r.id);
      keptAsNewestComplete.push(r.id);
    } else remove.push(r.id);
  }
  return { keep, remove, keptAsNewestComplete };
}

/**
 * Refuses to delete a backup that is not terminal: it may still be running (deleting it would remove the
 * rows its orchestrator writes and the events that explain it), or it was lost and must be classified first.
 */
export function assertDeletable(record: BackupRecord, nowMs = Date.now()): void {
  if (TERMINAL_STATES.includes(record.state)) return;
  const stale = isStale(record.owner, nowMs);
  const age = heartbeatAgeMs(record.owner, nowMs);
  const seen = Number.isFinite(age)
    ? `its last heartbeat was ${Math.round(age / 1000)} s ago`
    : 'it has no heartbeat';
  throw new CatalogError(
    'BACKUP_NOT_TERMINAL',
    `Backup ${record.id} is ${record.state}, not complete, failed or invalid; ${seen}.`,
    {
      context: { backupId: record.id, state: record.state, stale },
      hint: stale
        ? 'Its orchestrator is gone: run `stillpoint backups recover` to unpause its targets and classify it failed, then delete it.'
        : 'It is still running: wait for it to end (or stop its `stillpoint backup` process), then delete it.',
    },
  );
}

/**
 * Deletes backups and the artifacts no retained backup needs. Catalog rows go last, so a crash in the
 * middle leaves rows pointing at missing files (found by `backups verify`), never orphaned shared files
 * that nobody references.
 */
export async function deleteBackups(catalog: Catalog, ids: readonly string[]): Promise<DeleteOutcome[]> {
  // Checked for all before deleting any: a refused id never leaves the others half-deleted.
  for (const id of ids) assertDeletable(catalog.get(id));
  const removing = new Set(ids);
  const stillNeeded = catalog.referencedKeys(removing);
  const known = new Set(catalog.list().map((r) => r.id));
  const outcomes: DeleteOutcome[] = [];
  for (const id of ids) {
    const record = catalog.get(id);
    const store = openArtifactStore(record.artifactsLocation);
    const removedKeys: string[] = [];
    const keptShared: string[] = [];
    // Shared artifacts about to go: the store is the source of truth, so backups this catalog does not
    // know (another pod's catalog, not yet synced) still count, through their manifests.
    const sharedToDelete = record.artifacts.filter((a) => a.shared && !stillNeeded.has(a.key));
    const fromStore = sharedToDelete.length === 0 ? undefined : await storeReferences(store, removing, known);
    for (const a of record.artifacts) {
      const neededInStore =
        a.shared && fromStore !== undefined && (fromStore.unreadable || fromStore.keys.has(a.key));
      if (stillNeeded.has(a.key) || neededInStore) {
        keptShared.push(a.key);
        continue;
      }
      await store.delete(a.key);
      removedKeys.push(a.key);
    }
    // Files of failed attempts never got catalog rows; they live under the backup's own prefix.
    for (const key of await store.list(`${id}/`)) {
      if (!removedKeys.includes(key)) {
        await store.delete(key);
        removedKeys.push(key);
      }
    }
    catalog.deleteBackup(id);
    outcomes.push({
      backupId: id,
      removedKeys,
      keptShared,
      ...(fromStore !== undefined && (fromStore.unreadable || fromStore.backups.length > 0)
        ? { keptForStoreBackups: fromStore.unreadable ? ['*unreadable*'] : fromStore.backups }
        : {}),
    });
  }
  return outcomes;
}

/** Artifact keys referenced by the manifests in `store` of backups neither removed nor in the catalog. */
async function storeReferences(
  store: ArtifactStore,
  removing: ReadonlySet<string>,
  known: ReadonlySet<string>,
): Promise<{ keys: Set<string>; backups: string[]; unreadable: boolean }> {
  const keys = new Set<string>();
  const backups: string[] = [];
  for (const key of await store.list('')) {
    const [backupId, name, ...rest] = key.split('/');
    if (name !== MANIFEST_NAME || rest.length > 0 || backupId === undefined) continue;
    if (removing.has(backupId) || known.has(backupId)) continue;
    try {
      const manifest = await readManifest(store, key);
      for (const a of manifest.backup.artifacts) keys.add(a.key);
      backups.push(backupId);
    } catch {
      // Unreadable (no key here, damaged): it may reference anything shared, so keep every shared key.
      return { keys, backups, unreadable: true };
    }
  }
  return { keys, backups, unreadable: false };
}

/** Retention windows and leftover ages are compared with the clock, never set as timers: up to ten years. */
export const AGE_BOUNDS: DurationBounds = { minMs: 0, maxMs: 3650 * 86_400_000, timer: false };

/** An age flag (`--keep-within 7d`, `--min-age 10m`) in ms, through the one duration parser (src/duration.ts). */
export function parseAge(text: string, what: string): number {
  return parseDuration(text, what, AGE_BOUNDS);
}
