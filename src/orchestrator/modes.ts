/**
 * Choosing the mode and sizing the window, from engine capabilities (data) only.
 */
import type { BackupMode } from '../catalog/catalog-schema.ts';
import type { ClockSample, EngineCapabilities } from '../engines/contract.ts';
import { ConfigError } from '../errors.ts';
import type { Plan, WindowOptions } from '../plan/load-plan.ts';
import { COORDINATOR_NAMESPACE } from '../txn/schema.ts';

export interface PlannedMember {
  readonly name: string;
  /** Derived from the member's parsed options (see `resolveMember`). */
  readonly capabilities: EngineCapabilities;
}

/**
 * The plan's mode, or the cheapest correct one: `single` for one atomic member and no clusters,
 * `snapshot` when every engine captures a snapshot inside the pause and none is clock-based,
 * `pause-window` otherwise. Throws ConfigError `PLAN_INVALID` when the plan's mode cannot work.
 */
export function chooseMode(plan: Plan, members: readonly PlannedMember[]): BackupMode {
  const allSnapshot = members.every((m) => m.capabilities.snapshotInsidePause && !m.capabilities.clockBased);
  const mode: BackupMode =
    plan.mode ??
    (plan.clusters.length === 0 && members.length === 1 && members[0]!.capabilities.atomicCapture
      ? 'single'
      : allSnapshot
        ? 'snapshot'
        : 'pause-window');
  if (mode === 'single') {
    const atomic = members.length === 1 && members[0]!.capabilities.atomicCapture;
    if (!atomic || plan.clusters.length > 0) {
      throw modeError(
        plan,
        'mode "single" needs exactly one member whose engine captures atomically, and no clusters',
        'Remove `mode: single` (the mode is then derived), or list one transactional member.',
      );
    }
  } else if (plan.clusters.length === 0) {
    throw modeError(
      plan,
      `a group of ${members.length} members needs clusters to pause`,
      'List the application clusters under `clusters`.',
    );
  } else if (mode === 'snapshot' && !allSnapshot) {
    const bad = members
      .filter((m) => !m.capabilities.snapshotInsidePause || m.capabilities.clockBased)
      .map((m) => m.name);
    throw modeError(
      plan,
      `mode "snapshot" cannot back up ${bad.join(', ')} (no snapshot inside the pause)`,
      'Use `mode: pause-window`.',
    );
  }
  return mode;
}

function modeError(plan: Plan, message: string, hint: string): ConfigError {
  return new ConfigError('PLAN_INVALID', `${plan.file}: mode: ${message}.`, {
    context: { file: plan.file, key: 'mode' },
    hint,
  });
}

/**
 * The shortest window that is valid: at least `minMs`, and for each clock-based member
 * 2 × (|offset| + uncertainty) + margin, so the mid-time lies inside the pause in that database's clock
 * even if our clock and its clock disagree by the measured amount.
 */
export function requiredWindowMs(window: WindowOptions, clocks: readonly ClockSample[]): number {
  let required = window.minMs;
  for (const c of clocks)
    required = Math.max(required, Math.ceil(2 * (Math.abs(c.offsetMs) + c.uncertaintyMs) + window.marginMs));
  return required;
}

/** Sleeps `ms`, or rejects when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The capture stage of a member (lower first; a stage starts when every capture of the one before has
 * ended). A member holding the Coordinator namespace is stage 0: ScalarDB 3.19's Coordinator cleanup
 * deletes a transaction's state row once its records are final, and a missing row reads as "aborted", so a
 * user-table copy taken before a roll-forward combined with a Coordinator copy taken after the deletion
 * would roll back a committed transaction. Captured first, the Coordinator copy holds every row that any
 * later user-table copy can still need.
 */
export function captureStage(namespaces: readonly string[]): number {
  return namespaces.includes(COORDINATOR_NAMESPACE) ? 0 : 1;
}
