/**
 * Restoring a backup's members into fresh targets and judging the result with the checker (after the
 * recovery sweep, as a real restore does). Used for every `complete` backup of a trial (from its catalog
 * record) and by the negative control (from its own captures).
 */
import { createLocalDirStore } from '../artifacts/local-dir-store.ts';
import type { Catalog } from '../catalog/catalog.ts';
import { checkGroup } from '../checker/check.ts';
import type { Logger, MemberRecord, MemberSpec, RestoreTarget } from '../engines/contract.ts';
import { getEngine } from '../engines/registry.ts';
import type { ArtifactStore } from '../artifacts/contract.ts';
import type { GroupConfig, StorageConfig } from '../txn/contract.ts';
import { CatalogError } from '../errors.ts';

const QUIET: Logger = { info: () => undefined, warn: () => undefined };

/** Restores every record (in parallel is not needed: trials are small); returns the restored group. */
export async function restoreRecords(
  records: readonly MemberRecord[],
  artifacts: ArtifactStore,
  restoreTarget: (member: MemberSpec) => RestoreTarget,
  signal: AbortSignal,
): Promise<GroupConfig> {
  const storages: Record<string, StorageConfig> = {};
  const namespaces: Record<string, string> = {};
  for (const record of records) {
    const engine = getEngine(record.member.engine);
    const target = engine.parseRestoreTarget(record, restoreTarget(record.member));
    const restored = await engine.restore({ record, target, artifacts, force: true, log: QUIET, signal });
    storages[record.member.name] = restored.connection;
    for (const ns of record.member.namespaces) namespaces[ns] = record.member.name;
  }
  return { storages, namespaces };
}

/** Violations (as sentences) of a group after the sweep; empty when consistent. */
export async function checkRestored(group: GroupConfig, signal: AbortSignal): Promise<string[]> {
  const report = await checkGroup(group, { sweep: true, signal });
  return report.ok ? [] : report.violations.slice(0, 5).map((v) => `${v.kind}: ${v.detail}`);
}

/** Restores a `complete` backup found in the catalog and checks it. */
export async function restoreFromCatalog(
  catalog: Catalog,
  backupId: string,
  restoreTarget: (member: MemberSpec) => RestoreTarget,
  signal: AbortSignal,
): Promise<string[]> {
  const record = catalog.get(backupId);
  const artifacts = createLocalDirStore(record.artifactsLocation);
  const records: MemberRecord[] = record.members.map((m) => {
    if (m.handle === null) {
      throw new CatalogError('TRIAL_NO_HANDLE', `member ${m.name} of complete backup ${backupId} has no restore handle.`, { context: { backupId, member: m.name } });
    }
    return {
      backupId,
      member: m.spec,
      handle: m.handle,
      artifacts: record.artifacts.filter((a) => a.member === m.name),
    };
  });
  const group = await restoreRecords(records, artifacts, restoreTarget, signal);
  return checkRestored(group, signal);
}
