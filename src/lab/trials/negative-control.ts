/**
 * The negative control: the same engines, the same workload, but NO pause — each member is captured at a
 * different instant while transfers run, then finished, restored and checked. The checker must find torn
 * copies in at least one attempt; if it never does, the trials prove nothing (the runner says so).
 *
 * This deliberately bypasses the orchestrator: it is the "copy each database separately" mistake the
 * product exists to prevent, made with the product's own engines so that only the pause differs.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createLocalDirStore } from '../../artifacts/local-dir-store.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BackupSession,
  BackupSessionContext,
  FinishWindow,
  Logger,
  MemberRecord,
  MemberSpec,
  RestoreTarget,
} from '../../engines/contract.ts';
import { resolveMember } from '../../engines/registry.ts';
import { InternalError } from '../../errors.ts';
import type { Random } from './random.ts';
import { checkRestored, restoreRecords } from './restore-check.ts';

const QUIET: Logger = { info: () => undefined, warn: () => undefined };

export interface UnpausedCopyInput {
  readonly members: readonly MemberSpec[];
  /** Where restored copies and artifacts go. */
  readonly dir: string;
  /** Restore target for a member (engine-specific; e.g. `{ path }` for SQLite, a new database name for servers). */
  readonly restoreTarget: (member: MemberSpec, attempt: number) => RestoreTarget;
  readonly random: Random;
  /** Gap between two members' captures, ms: [min, max] (default [20, 80]). */
  readonly gapMs?: readonly [number, number];
  readonly signal: AbortSignal;
}

export interface UnpausedCopyResult {
  readonly torn: boolean;
  readonly violations: readonly string[];
}

/** One unpaused copy of the group: capture members one after another, restore, check. */
export async function copyWithoutPause(
  input: UnpausedCopyInput,
  attempt: number,
): Promise<UnpausedCopyResult> {
  const artifacts = createLocalDirStore(join(input.dir, `nc-artifacts-${attempt}`));
  const backupId = `nc-${attempt}-${randomBytes(3).toString('hex')}`;
  const ctxFor = (member: MemberSpec): BackupSessionContext => ({
    backupId,
    member,
    artifacts,
    artifactPrefix: `${backupId}/${member.name}/`,
    sharedPrefix: `shared/${member.name}/`,
    log: QUIET,
  });
  const [minGap, maxGap] = input.gapMs ?? [20, 80];
  const sessions: Array<{ member: MemberSpec; session: BackupSession; own?: FinishWindow }> = [];
  try {
    for (const member of input.members) {
      const { kind, options } = resolveMember(member);
      const session = kind.openBackup(ctxFor(member), options);
      sessions.push({ member, session });
      // Preflight first, as the orchestrator does: an engine learns its tables there (DynamoDB), or turns
      // on what its capture needs (PITR). Skipping it left a DynamoDB copy with no table at all.
      const failed = (await session.preflight(input.signal)).filter((c) => !c.ok);
      if (failed.length > 0) {
        throw new InternalError(
          'TRIAL_CONTROL_PREFLIGHT',
          `negative control: preflight of ${member.name} failed: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`,
        );
      }
      await session.prepare(input.signal);
      // A time handle is the capture instant on the database's clock, known to ± (|offset| + uncertainty). The
      // product keeps its window that wide (orchestrator/modes.ts `requiredWindowMs`); this window has no width,
      // so the capture waits that long after preflight instead: a handle drawn within that margin of PITR being
      // turned on could lie before it (mix campaign's dynamodb+postgres control: "12:58:50.485Z is outside
      // [12:58:50.556Z, …]", the Date header's 1 s resolution).
      if (session.capabilities.clockBased && session.measureClock !== undefined) {
        const clock = await session.measureClock(input.signal);
        await sleep(Math.abs(clock.offsetMs) + clock.uncertaintyMs, undefined, { signal: input.signal });
      }
      const captured = await session.capture(input.signal);
      // A time handle (clock-based engine) is the instant of ITS OWN window: the mistake made with time
      // handles is restoring each member to a different time (no common pause covers them).
      if (session.capabilities.clockBased && session.measureClock !== undefined) {
        const clock = await session.measureClock(input.signal);
        const at = captured.capturedAtMs;
        sessions[sessions.length - 1] = {
          member,
          session,
          own: { pausedAtMs: at, unpauseStartedAtMs: at, midMs: at, clock },
        };
      }
      await sleep(input.random.int(minGap, maxGap), undefined, { signal: input.signal });
    }
    const now = Date.now();
    const window = { pausedAtMs: now, unpauseStartedAtMs: now, midMs: now };
    const records: MemberRecord[] = [];
    for (const { member, session, own } of sessions) {
      const finished = await session.finish(own ?? window, input.signal);
      // A time handle is restorable only once the service's restorable horizon passed it (PITR lag): wait,
      // as the orchestrator does, or the restore is refused (RestoreTime must lie between …).
      await session.horizon(finished.handle, input.signal);
      records.push({ backupId, member, handle: finished.handle, artifacts: finished.artifacts });
    }
    const group = await restoreRecords(
      records,
      artifacts,
      (m) => input.restoreTarget(m, attempt),
      input.signal,
    );
    const violations = await checkRestored(group, input.signal);
    return { torn: violations.length > 0, violations };
  } finally {
    await Promise.allSettled(sessions.map(({ session }) => session.close()));
  }
}
