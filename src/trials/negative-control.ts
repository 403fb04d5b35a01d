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
import { createLocalDirStore } from '../artifacts/local-dir-store.ts';
import type { Logger, MemberCapture, MemberRecord, MemberSpec, PhaseContext, RestoreTarget } from '../engines/contract.ts';
import { getEngine } from '../engines/registry.ts';
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
export async function copyWithoutPause(input: UnpausedCopyInput, attempt: number): Promise<UnpausedCopyResult> {
  const artifacts = createLocalDirStore(join(input.dir, `nc-artifacts-${attempt}`));
  const backupId = `nc-${attempt}-${randomBytes(3).toString('hex')}`;
  const ctxFor = (member: MemberSpec): PhaseContext => ({
    backupId,
    member,
    artifacts,
    artifactPrefix: `${backupId}/${member.name}/`,
    sharedPrefix: `shared/${member.name}/`,
    log: QUIET,
    signal: input.signal,
  });
  const [minGap, maxGap] = input.gapMs ?? [20, 80];
  const captures: Array<{ member: MemberSpec; capture: MemberCapture }> = [];
  try {
    for (const member of input.members) {
      const engine = getEngine(member.engine);
      await engine.prepare(ctxFor(member));
      captures.push({ member, capture: await engine.capture(ctxFor(member)) });
      await new Promise((r) => setTimeout(r, input.random.int(minGap, maxGap)));
    }
    const now = Date.now();
    const window = { pausedAtMs: now, unpauseStartedAtMs: now, midMs: now };
    const records: MemberRecord[] = [];
    for (const { member, capture } of captures.splice(0)) {
      const finished = await capture.finish(ctxFor(member), window);
      records.push({ backupId, member, handle: finished.handle, artifacts: finished.artifacts });
    }
    const group = await restoreRecords(records, artifacts, (m) => input.restoreTarget(m, attempt), input.signal);
    const violations = await checkRestored(group, input.signal);
    return { torn: violations.length > 0, violations };
  } finally {
    for (const { capture } of captures) await capture.release();
  }
}
