/**
 * The restore runner, planned whole before anything changes:
 * 1. plan (./restore-plan.ts): one engine session per member, every target inspected (reachable,
 *    credentials, absent / empty / leftover / restored / foreign / live source);
 * 2. preflight: every artifact's checksum verified and every member's refusal collected — ALL of them are
 *    reported together, before the first hook or write (a dry run stops here, ok only when nothing refuses);
 * 3. `before` hooks → every member restored (each settled: a per-member result) → recovery sweep + checker
 *    → `markFinished` on every member once the restore is whole;
 * 4. `after` hooks ALWAYS run once step 3 started (a failed restore still restarts the application), and ONE
 *    `restore-finished` catalog event records the end state and the per-member results.
 * Only a checked, consistent restore is `restored`; one that could not be checked is `restored-unchecked`.
 */
import type { Catalog } from '../catalog/catalog.ts';
import { checkGroup, type CheckReport } from '../checker/check.ts';
import type { AppInvariant } from '../checker/invariants.ts';
import { refuseUnlessRestorable } from '../engines/restore-refusal.ts';
import { CatalogError, asStillpointError, type StillpointError } from '../errors.ts';
import type { GroupConfig, StorageConfig } from '../txn/contract.ts';
import { runHooks, type HookResult } from './restore-hooks.ts';
import { planRestore, type PlannedRestore, type RestorePlan, type RestoreRequest } from './restore-plan.ts';

export interface RestoreOptions extends RestoreRequest {
  /** Run every non-destructive check (inspections, checksums) and stop. */
  readonly dryRun?: boolean;
  /** Run the recovery sweep and the checker on the restored group (default true). */
  readonly check?: boolean;
  /** Application invariants checked besides the checker's core (default none). */
  readonly invariants?: readonly AppInvariant[];
  /** With `force`: allow restoring over a member's live source database (`--overwrite-source`). */
  readonly allowSource?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: RestoreEvent) => void;
}

export type RestoreEvent = {
  readonly type: 'restore';
  readonly backupId: string;
  readonly step: string;
  readonly member?: string;
  readonly detail?: string;
};

export interface RestoredEntry {
  readonly member: string;
  readonly connection: StorageConfig;
  readonly namespaces?: Readonly<Record<string, string>>;
}

/** One member's outcome: `restored`, `failed` (with the error), or `not-started` (an earlier step failed). */
export interface MemberRestoreResult {
  readonly member: string;
  readonly state: 'restored' | 'failed' | 'not-started';
  readonly ms?: number;
  readonly error?: { readonly code: string; readonly message: string; readonly hint?: string };
}

/**
 * How a restore ended: `restored` (checked and consistent), `check-failed` (restored, the checker found
 * violations), `restored-unchecked` (restored, but no check ran: --no-check, or a restored member could not
 * be read back), `failed` (a hook or a member failed; see `members`), `dry-run`, `refused` (a dry run that
 * the real restore would refuse). Only `restored` is a proven restore.
 */
export type RestoreState =
  'restored' | 'check-failed' | 'restored-unchecked' | 'failed' | 'dry-run' | 'refused';

export interface RestoreReport {
  readonly state: RestoreState;
  readonly plan: RestorePlan;
  readonly dryRun: boolean;
  readonly checksums: readonly { key: string; ok: boolean }[];
  /** Why the restore would be refused (a dry run reports them instead of throwing). */
  readonly refusals: readonly StillpointError[];
  readonly hooks: { before: readonly HookResult[]; after: readonly HookResult[] };
  readonly members: readonly MemberRestoreResult[];
  readonly restored: readonly RestoredEntry[];
  /** The restored group (what `stillpoint check` would be given), renamed namespaces included. */
  readonly group: GroupConfig | null;
  readonly check: CheckReport | null;
  /** Why the check did not run, when it did not. */
  readonly checkSkipped: string | null;
  /** The first error of a `failed` restore (a hook or a member). */
  readonly error: StillpointError | null;
  readonly ok: boolean;
}

type Progress = (step: string, extra?: { member?: string; detail?: string }) => void;

export async function runRestore(catalog: Catalog, options: RestoreOptions): Promise<RestoreReport> {
  const signal = options.signal ?? new AbortController().signal;
  const progress: Progress = (step, extra = {}) =>
    options.onProgress?.({ type: 'restore', backupId: options.backupId, step, ...extra });
  progress('inspect-targets');
  const planned = await planRestore(catalog, options, signal);
  try {
    progress('verify-checksums');
    const checksums = await Promise.all(
      planned.record.artifacts.map(async (a) => ({ key: a.key, ok: await planned.store.verify(a) })),
    );
    const refusals = [...checksumRefusal(options.backupId, checksums), ...targetRefusals(planned, options)];
    const base = {
      plan: planned.plan,
      checksums,
      refusals,
      hooks: { before: [], after: [] },
      restored: [],
      group: null,
      check: null,
      error: null,
    };
    const notStarted = planned.plan.members.map((m): MemberRestoreResult => ({
      member: m.member,
      state: 'not-started',
    }));
    if (options.dryRun === true) {
      const state = refusals.length === 0 ? 'dry-run' : 'refused';
      return {
        ...base,
        state,
        dryRun: true,
        members: notStarted,
        checkSkipped: 'dry run',
        ok: refusals.length === 0,
      };
    }
    if (refusals.length > 0) {
      catalog.note(options.backupId, 'restore-finished', {
        ok: false,
        state: 'refused',
        members: notStarted,
        refusals: refusals.map((e) => e.toJSON()),
      });
      throw combined(refusals);
    }
    return await restoreWhole(catalog, planned, options, signal, progress, checksums);
  } finally {
    await planned.close();
  }
}

async function restoreWhole(
  catalog: Catalog,
  planned: PlannedRestore,
  options: RestoreOptions,
  signal: AbortSignal,
  progress: Progress,
  checksums: RestoreReport['checksums'],
): Promise<RestoreReport> {
  const { plan } = planned;
  catalog.note(options.backupId, 'restore-started', {
    targets: plan.members.map((m) => ({ member: m.member, target: m.target })),
  });
  const env = { STILLPOINT_BACKUP_ID: options.backupId };
  let before: HookResult[] = [];
  let after: HookResult[] = [];
  let members: MemberRestoreResult[] = plan.members.map((m) => ({ member: m.member, state: 'not-started' }));
  let restored: RestoredEntry[] = [];
  let group: GroupConfig | null = null;
  let check: CheckReport | null = null;
  let checkSkipped: string | null = null;
  let error: StillpointError | null = null;
  try {
    progress('hooks-before');
    before = await runHooks(plan.hooks.before, { ...env, STILLPOINT_HOOK: 'before' }, signal);
    ({ members, restored } = await restoreMembers(planned, options, signal, progress));
    const failed = members.find((m) => m.state === 'failed');
    if (failed === undefined) {
      group = restoredGroup(plan, restored);
      ({ check, checkSkipped } = await checkRestored(group, options, signal, progress));
      // A whole restore (not one the checker rejected) becomes "restored": a later re-run needs --force.
      if (check === null || check.ok)
        for (const m of plan.members) await planned.sessions.get(m.member)!.markFinished();
    } else {
      error = memberError(members);
    }
  } catch (caught) {
    error = asStillpointError(caught);
  } finally {
    progress('hooks-after');
    try {
      // Not tied to `signal`: an interrupted restore still restarts the application (each hook has its own deadline).
      after = await runHooks(
        plan.hooks.after,
        { ...env, STILLPOINT_HOOK: 'after' },
        new AbortController().signal,
      );
    } catch (caught) {
      error ??= asStillpointError(caught);
    }
  }
  const state: RestoreState =
    error !== null
      ? 'failed'
      : check === null
        ? 'restored-unchecked'
        : check.ok
          ? 'restored'
          : 'check-failed';
  catalog.note(options.backupId, 'restore-finished', {
    ok: state === 'restored',
    state,
    members,
    violations: check?.stats.violationsTotal ?? null,
    ...(error === null ? {} : { error: error.toJSON() }),
  });
  return {
    state,
    plan,
    dryRun: false,
    checksums,
    refusals: [],
    hooks: { before, after },
    members,
    restored,
    group,
    check,
    checkSkipped,
    error,
    ok: state === 'restored',
  };
}

/** Every member restored concurrently and settled: one failure never leaves another half-reported. */
async function restoreMembers(
  planned: PlannedRestore,
  options: RestoreOptions,
  signal: AbortSignal,
  progress: Progress,
): Promise<{ members: MemberRestoreResult[]; restored: RestoredEntry[] }> {
  const opts = {
    force: options.force ?? false,
    ...(options.allowSource === undefined ? {} : { allowSource: options.allowSource }),
    signal,
  };
  const settled = await Promise.allSettled(
    planned.plan.members.map(async (m) => {
      const started = Date.now();
      progress('restore-member', { member: m.member });
      const out = await planned.sessions.get(m.member)!.restore(opts);
      return {
        entry: {
          member: m.member,
          connection: out.connection,
          ...(out.namespaces ? { namespaces: out.namespaces } : {}),
        },
        ms: Date.now() - started,
      };
    }),
  );
  const members: MemberRestoreResult[] = [];
  const restored: RestoredEntry[] = [];
  settled.forEach((s, i) => {
    const member = planned.plan.members[i]!.member;
    if (s.status === 'fulfilled') {
      restored.push(s.value.entry);
      members.push({ member, state: 'restored', ms: s.value.ms });
    } else {
      const e = asStillpointError(s.reason);
      members.push({
        member,
        state: 'failed',
        error: { code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) },
      });
    }
  });
  return { members, restored };
}

function memberError(members: readonly MemberRestoreResult[]): StillpointError {
  const failed = members.filter((m) => m.state === 'failed');
  return new CatalogError(
    'RESTORE_MEMBER_FAILED',
    `${failed.length} of ${members.length} member(s) failed to restore: ${failed.map((m) => `${m.member}: ${m.error?.message ?? '?'}`).join('; ')}`,
    {
      context: { members: failed.map((m) => m.member) },
      hint:
        failed[0]?.error?.hint ??
        'Fix the cause and run the same restore again: targets of this restore are redone without --force.',
    },
  );
}

function checksumRefusal(backupId: string, checksums: RestoreReport['checksums']): StillpointError[] {
  const bad = checksums.filter((c) => !c.ok);
  if (bad.length === 0) return [];
  return [
    new CatalogError(
      'ARTIFACT_CHECKSUM_MISMATCH',
      `${bad.length} artifact(s) of ${backupId} are missing or damaged: ${bad.map((b) => b.key).join(', ')}.`,
      {
        context: { backupId, keys: bad.map((b) => b.key) },
        hint: 'Nothing was changed. Restore another backup; `stillpoint backups verify <id>` lists the damage.',
      },
    ),
  ];
}

/** Every member's refusal, from its inspection: failed checks, a non-empty target without --force, the live source. */
function targetRefusals(planned: PlannedRestore, options: RestoreOptions): StillpointError[] {
  return planned.plan.members.flatMap((m) => {
    try {
      refuseUnlessRestorable(
        m.inspection,
        {
          force: options.force ?? false,
          ...(options.allowSource === undefined ? {} : { allowSource: options.allowSource }),
        },
        { member: m.member, engine: m.engine, backupId: options.backupId, target: JSON.stringify(m.target) },
      );
      return [];
    } catch (error) {
      const e = asStillpointError(error);
      return [rebuilt(e, `member ${m.member}: ${e.detail}`, { ...e.context, member: m.member }, e.hint)];
    }
  });
}

/** The same error class and code with another message (the refusal rule does not know the member). */
function rebuilt(
  e: StillpointError,
  message: string,
  context: Record<string, unknown>,
  hint: string | undefined,
): StillpointError {
  const Kind = e.constructor as new (code: string, message: string, options: object) => StillpointError;
  return new Kind(e.code, message, { context, ...(hint === undefined ? {} : { hint }) });
}

/** One refusal as is; several as one error of the first one's code listing all (nothing was changed). */
function combined(refusals: readonly StillpointError[]): StillpointError {
  const first = refusals[0]!;
  if (refusals.length === 1) return first;
  const hints = [...new Set(refusals.map((e) => e.hint).filter((h) => h !== undefined))];
  return rebuilt(
    first,
    `The restore is refused for ${refusals.length} reasons; nothing was changed: ${refusals.map((e) => `[${e.code}] ${e.detail}`).join(' | ')}`,
    { refusals: refusals.map((e) => ({ code: e.code, message: e.detail, hint: e.hint })) },
    hints.join(' '),
  );
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

/** The sweep and the checker; a restored member that cannot be read back leaves the restore unchecked, never "proven". */
async function checkRestored(
  group: GroupConfig,
  options: RestoreOptions,
  signal: AbortSignal,
  progress: Progress,
): Promise<{ check: CheckReport | null; checkSkipped: string | null }> {
  if (options.check === false) return { check: null, checkSkipped: '--no-check' };
  progress('sweep-and-check');
  try {
    // expiryMs 0: a restored group has no live writer that could still finish a transaction.
    return {
      check: await checkGroup(group, {
        sweep: true,
        expiryMs: 0,
        invariants: options.invariants ?? [],
        signal,
      }),
      checkSkipped: null,
    };
  } catch (error) {
    signal.throwIfAborted();
    return {
      check: null,
      checkSkipped: `the restored group could not be read: ${asStillpointError(error).message}`,
    };
  }
}
