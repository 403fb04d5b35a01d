/**
 * The restore runner: plan (./restore-plan.ts) → verify EVERY artifact's checksum → `before` hooks →
 * restore every member → recovery sweep + checker on the restored group → `after` hooks.
 * Nothing destructive happens before all checksums match. Engines refuse non-empty targets without
 * `force` and are safe to re-run after a crash, so the whole restore is too.
 */
import type { Catalog } from '../catalog/catalog.ts';
import { checkGroup, type CheckReport } from '../checker/check.ts';
import type { AppInvariant } from '../checker/invariants.ts';
import { CatalogError, asStillpointError } from '../errors.ts';
import type { GroupConfig, StorageConfig } from '../txn/contract.ts';
import { runHooks, type HookResult } from './restore-hooks.ts';
import { planRestore, type RestorePlan, type RestoreRequest } from './restore-plan.ts';

export interface RestoreOptions extends RestoreRequest {
  readonly dryRun?: boolean;
  /** Run the recovery sweep and the checker on the restored group (default true). */
  readonly check?: boolean;
  /** Application invariants checked besides the checker's core (default none). */
  readonly invariants?: readonly AppInvariant[];
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

/**
 * How a restore ended: `restored` (checked and consistent), `check-failed` (restored, the checker found
 * violations), `restored-unchecked` (restored, but no check ran: --no-check, or a member that cannot be read
 * back), `dry-run`. Only `restored` is a proven restore.
 */
export type RestoreState = 'restored' | 'check-failed' | 'restored-unchecked' | 'dry-run';

export interface RestoreReport {
  readonly state: RestoreState;
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
  const empty = { plan: planned.plan, hooks: { before: [], after: [] }, restored: [], group: null, check: null };
  if (options.dryRun === true) return { ...empty, state: 'dry-run', dryRun: true, checksums: [], checkSkipped: 'dry run', ok: true };

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
    const entry = planned.contexts.get(m.member)!;
    progress('restore-member', { member: m.member });
    const out = await entry.engine.restore(entry.ctx);
    restored.push({ member: m.member, connection: out.connection, ...(out.namespaces ? { namespaces: out.namespaces } : {}) });
  }
  const group = restoredGroup(planned.plan, restored);
  const { check, checkSkipped } = await checkRestored(group, options.check !== false, options.invariants ?? [], signal, progress);
  progress('hooks-after');
  const after = await runHooks(planned.plan.hooks.after, { ...env, STILLPOINT_HOOK: 'after' }, signal);
  const state: RestoreState = check === null ? 'restored-unchecked' : check.ok ? 'restored' : 'check-failed';
  const ok = state === 'restored';
  catalog.note(options.backupId, 'restore-finished', { ok, state, restored: restored.map((r) => r.member), violations: check?.stats.violationsTotal ?? null });
  return { state, plan: planned.plan, dryRun: false, checksums, hooks: { before, after }, restored, group, check, checkSkipped, ok };
}

/**
 * The restored group: one storage per member, each namespace on the member that held it, under the physical
 * name the engine restored it as (`renames`, the `scalardb` table catalog included).
 */
function restoredGroup(plan: RestorePlan, restored: readonly RestoredEntry[]): GroupConfig {
  const storages: Record<string, StorageConfig> = {};
  const namespaces: Record<string, string> = {};
  const renames: Record<string, Record<string, string>> = {};
  for (const r of restored) {
    storages[r.member] = r.connection;
    const moved = Object.entries(r.namespaces ?? {}).filter(([from, to]) => from !== to);
    if (moved.length > 0) renames[r.member] = Object.fromEntries(moved);
  }
  for (const m of plan.members) for (const ns of m.namespaces) namespaces[ns] = m.member;
  return { storages, namespaces, ...(Object.keys(renames).length > 0 ? { renames } : {}) };
}

async function checkRestored(
  group: GroupConfig,
  enabled: boolean,
  invariants: readonly AppInvariant[],
  signal: AbortSignal,
  progress: (step: string) => void,
): Promise<{ check: CheckReport | null; checkSkipped: string | null }> {
  if (!enabled) return { check: null, checkSkipped: '--no-check' };
  progress('sweep-and-check');
  try {
    // expiryMs 0: a restored group has no live writer that could still finish a transaction.
    return { check: await checkGroup(group, { sweep: true, expiryMs: 0, invariants, signal }), checkSkipped: null };
  } catch (error) {
    throw asStillpointError(error);
  }
}
