/**
 * Restoring a backup's members into fresh targets and judging the result with the checker (after the
 * recovery sweep, as a real restore does). Used for every `complete` backup of a trial (from its catalog
 * record) and by the negative control (from its own captures).
 */
import type { Catalog } from '../../catalog/catalog.ts';
import { checkGroup } from '../../checker/check.ts';
import { bankInvariants } from '../bank/bank-invariants.ts';
import type { Logger, MemberRecord, MemberSpec, RestoreTarget } from '../../engines/contract.ts';
import { resolveMember } from '../../engines/registry.ts';
import type { ArtifactStore } from '../../artifacts/contract.ts';
import type { GroupConfig, StorageConfig } from '../../txn/contract.ts';
import { runRestore } from '../../orchestrator/restore.ts';

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
  const renames: Record<string, Record<string, string>> = {};
  for (const record of records) {
    const { kind, options } = resolveMember(record.member);
    const session = kind.openRestore(
      { record, target: restoreTarget(record.member), artifacts, log: QUIET },
      options,
    );
    try {
      const restored = await session.restore({ force: true, signal });
      storages[record.member.name] = restored.connection;
      // A namespace restored under another physical name (DynamoDB: a new table prefix; MariaDB: another
      // database) is read there, as the product's restore runner does (orchestrator/restore.ts).
      const moved = Object.entries(restored.namespaces ?? {}).filter(([from, to]) => from !== to);
      if (moved.length > 0) renames[record.member.name] = Object.fromEntries(moved);
    } finally {
      await session.close();
    }
    for (const ns of record.member.namespaces) namespaces[ns] = record.member.name;
  }
  return { storages, namespaces, ...(Object.keys(renames).length > 0 ? { renames } : {}) };
}

/** Violations (as sentences) of a group after the sweep; empty when consistent. */
export async function checkRestored(group: GroupConfig, signal: AbortSignal): Promise<string[]> {
  // expiryMs 0: nothing writes to a restored copy, so an undecided transaction will never finish.
  const report = await checkGroup(group, { sweep: true, expiryMs: 0, invariants: [bankInvariants], signal });
  return report.ok ? [] : report.violations.slice(0, 5).map((v) => `${v.kind}: ${v.detail}`);
}

/**
 * Restores a `complete` backup through the product's restore runner (checksums first, every member, sweep
 * and checker), then checks the restored group again independently. Returns violations as sentences.
 */
export async function restoreFromCatalog(
  catalog: Catalog,
  backupId: string,
  restoreTarget: (member: MemberSpec) => RestoreTarget,
  signal: AbortSignal,
): Promise<string[]> {
  const record = catalog.get(backupId);
  const targets = Object.fromEntries(record.members.map((m) => [m.name, restoreTarget(m.spec)]));
  const report = await runRestore(catalog, {
    backupId,
    targets,
    force: true,
    invariants: [bankInvariants],
    signal,
  });
  const problems: string[] = [];
  if (!report.ok) {
    const why = [report.checkSkipped, report.error && `${report.error.code}: ${report.error.message}`]
      .filter((w) => w)
      .join('; ');
    problems.push(`restore ${report.state}${why === '' ? '' : ` (${why.slice(0, 400)})`}`);
  }
  for (const v of report.check?.violations.slice(0, 5) ?? [])
    problems.push(`restore check: ${v.kind}: ${v.detail}`);
  if (report.group !== null && report.checkSkipped === null)
    problems.push(...(await checkRestored(report.group, signal)));
  else problems.push(`restored group not checked: ${report.checkSkipped ?? 'no group'}`);
  return problems;
}
