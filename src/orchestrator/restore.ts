/**
 * The restore runner: plan (./restore-plan.ts) → verify EVERY artifact's checksum → `before` hooks →
 * restore every member → recovery sweep + checker on the restored group → `after` hooks.
 * Nothing destructive happens before all checksums match and every member's target inspection allows the
 * restore (absent, empty or an unfinished restore of this backup; anything else needs `force`). Each
 * member's session marks its target "restored" only after the check passed, so a later re-run needs
 * `force` while a re-run after a crash does not. Every restore session is closed in the end.
 */
import type { Catalog } from '../catalog/catalog.ts';
import { checkGroup, type CheckReport } from '../checker/check.ts';
import { refuseUnlessRestorable } from '../engines/restore-refusal.ts';
import { CatalogError, asStillpointError } from '../errors.ts';
import type { GroupConfig, StorageConfig } from '../txn/contract.ts';
import { runHooks, type HookResult } from './restore-hooks.ts';
import { planRestore, type RestorePlan, type RestoreRequest } from './restore-plan.ts';

export interface RestoreOptions extends RestoreRequest {
  readonly dryRun?: boolean;
  /** Run the recovery sweep and the checker on the restored group (default true). */
  readonly check?: boolean;
  /** With `force`: allow restoring over a member's live source database. */
  readonly allowSource?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: RestoreEvent) => void;
}

export type RestoreEvent =
  | { readonly type: 'restore'; readonly backupId: string; readonly step: string; readonly member?: string; readonly detail?: string };

export interface RestoredEntry {
  readonly member: string;
  readonly connection: StorageConfig;
  readonly namespaces?: Readonly<Record<string, string>>;
}

export interface RestoreReport {
  readonly plan: RestorePlan;
  readonly dryRun: boolean;
  readonly checksums: readonly { key: string; ok: boolean }[];
  readonly hooks: { before: readonly HookResult[]; after: readonly HookResult[] };
  readonly restored: readonly RestoredEntry[];
  /** The restored group (what `stillpoint check` would be given). */
  readonly group: GroupConfig | null;
  readonly check: CheckReport | null;
  /** Why the check did not run, when it did not. */
  readonly checkSkipped: string | null;
  readonly ok: boolean;
}

export async function runRestore(catalog: Catalog, options: RestoreOptions): Promise<RestoreReport> {
  const signal = options.signal ?? new AbortController().signal;
  const progress = (step: string, extra: { member?: string; detail?: string } = {}): void =>
    options.onProgress?.({ type: 'restore', backupId: options.backupId, step, ...extra });
  const planned = await planRestore(catalog, options, signal);
  try {
    return await restorePlanned(catalog, planned, options, signal, progress);
  } finally {
    await planned.close();
  }
}

async function restorePlanned(
  catalog: Catalog,
  planned: Awaited<ReturnType<typeof planRestore>>,
  options: RestoreOptions,
  signal: AbortSignal,
  progress: (step: string, extra?: { member?: string; detail?: string }) => void,
): Promise<RestoreReport> {
  const empty = { plan: planned.plan, hooks: { before: [], after: [] }, restored: [], group: null, check: null };
  const refusals = planned.plan.members.flatMap((m) => {
    try {
      refuseUnlessRestorable(m.inspection, { force: options.force ?? false, ...(options.allowSource === undefined ? {} : { allowSource: options.allowSource }) }, { member: m.member, engine: m.engine, backupId: options.backupId });
      return [];
    } catch (error) {
      return [asStillpointError(error)];
    }
  });
  if (options.dryRun === true) return { ...empty, dryRun: true, checksums: [], checkSkipped: 'dry run', ok: refusals.length === 0 };
  if (refusals[0] !== undefined) throw refusals[0];

  progress('verify-checksums');
  const checksums = await Promise.all(planned.record.artifacts.map(async (a) => ({ key: a.key, ok: await planned.store.verify(a) })));
  const bad = checksums.filter((c) => !c.ok);
  if (bad.length > 0) {
    throw new CatalogError('ARTIFACT_CHECKSUM_MISMATCH', `${bad.length} artifact(s) of ${options.backupId} are missing or damaged: ${bad.map((b) => b.key).join(', ')}.`, {
      context: { backupId: options.backupId, keys: bad.map((b) => b.key) },
      hint: 'Nothing was changed. Restore another backup; `stillpoint backups verify <id>` lists the damage.',
    });
  }
  catalog.note(options.backupId, 'restore-started', { targets: planned.plan.members.map((m) => ({ member: m.member, target: m.target })) });
  const env = { STILLPOINT_BACKUP_ID: options.backupId };
  progress('hooks-before');
  const before = await runHooks(planned.plan.hooks.before, { ...env, STILLPOINT_HOOK: 'before' }, signal);
  const restored: RestoredEntry[] = [];
  for (const m of planned.plan.members) {
    const session = planned.sessions.get(m.member)!;
    progress('restore-member', { member: m.member });
    const out = await session.restore({ force: options.force ?? false, ...(options.allowSource === undefined ? {} : { allowSource: options.allowSource }), signal });
    restored.push({ member: m.member, connection: out.connection, ...(out.namespaces ? { namespaces: out.namespaces } : {}) });
  }
  const group = restoredGroup(planned.plan, restored);
  const { check, checkSkipped } = await checkRestored(group, restored, options.check !== false, signal, progress);
  progress('hooks-after');
  const after = await runHooks(planned.plan.hooks.after, { ...env, STILLPOINT_HOOK: 'after' }, signal);
  const ok = check === null || check.ok;
  // Only a restore that was checked (or whose check was switched off) becomes "restored": a later re-run needs force.
  if (ok) for (const m of planned.plan.members) await planned.sessions.get(m.member)!.markFinished();
  catalog.note(options.backupId, 'restore-finished', { ok, restored: restored.map((r) => r.member), violations: check?.stats.violationsTotal ?? null });
  return { plan: planned.plan, dryRun: false, checksums, hooks: { before, after }, restored, group, check, checkSkipped, ok };
}

/** The restored group: one storage per member, each namespace on the member that held it. */
function restoredGroup(plan: RestorePlan, restored: readonly RestoredEntry[]): GroupConfig {
  const storages: Record<string, StorageConfig> = {};
  const namespaces: Record<string, string> = {};
  for (const r of restored) storages[r.member] = r.connection;
  for (const m of plan.members) for (const ns of m.namespaces) namespaces[ns] = m.member;
  return { storages, namespaces };
}

async function checkRestored(
  group: GroupConfig,
  restored: readonly RestoredEntry[],
  enabled: boolean,
  signal: AbortSignal,
  progress: (step: string) => void,
): Promise<{ check: CheckReport | null; checkSkipped: string | null }> {
  if (!enabled) return { check: null, checkSkipped: '--no-check' };
  const renamed = restored.filter((r) => r.namespaces && Object.entries(r.namespaces).some(([a, b]) => a !== b));
  if (renamed.length > 0) {
    return { check: null, checkSkipped: `namespaces of ${renamed.map((r) => r.member).join(', ')} were restored under other names; check them with \`stillpoint check\` after renaming` };
  }
  progress('sweep-and-check');
  try {
    // expiryMs 0: a restored group has no live writer that could still finish a transaction.
    const report = await checkGroup(group, { sweep: true, expiryMs: 0, signal });
    return { check: withoutBankRulesIfNoBank(report, group), checkSkipped: null };
  } catch (error) {
    throw asStillpointError(error);
  }
}

/** Groups that are not the bank workload have no bank invariants; keep the transaction-log checks only. */
function withoutBankRulesIfNoBank(report: CheckReport, group: GroupConfig): CheckReport {
  if ('bank_a' in group.namespaces) return report;
  const violations = report.violations.filter((v) => v.kind !== 'meta-missing');
  return { ...report, ok: violations.length === 0 && report.stats.violationsTotal - (report.violations.length - violations.length) === 0, violations };
}
