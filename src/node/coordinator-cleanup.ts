/**
 * The node's periodic Coordinator cleanup (`coordinatorCleanup` in the node config): every `intervalMs`, one
 * round of ../txn/cleanup.ts `cleanupCoordinator` over the node's group.
 *
 * Cleanup is a transaction-manager operation, so it goes through the node's gate like a transfer: each
 * finishTransaction is one gate unit. A pause drains a finish in flight and no finish starts while paused
 * (reject mode: the round ends at the closed gate and the next round tries again; hold mode: it waits like a
 * held transfer). That is what keeps a backup's copies agreeing: no Coordinator row disappears, and no record
 * is rolled forward, between the first copy and the last.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { asStillpointError } from '../errors.ts';
import type { Gate } from '../pause/contract.ts';
import type { PauseLog } from '../pause/gate.ts';
import { cleanupCoordinator } from '../txn/cleanup.ts';
import type { StorageGroup } from '../txn/contract.ts';

export interface CoordinatorCleanupSettings {
  /** Pause between the end of one round and the start of the next, ms. */
  readonly intervalMs: number;
  /** Rows decided less than this long ago are left alone, ms. */
  readonly olderThanMs: number;
  /** Rows finished at most per round. */
  readonly limit: number;
}

export interface CoordinatorCleanupStats {
  readonly rounds: number;
  /** Coordinator rows finished and deleted since the node started. */
  readonly finished: number;
  /** Rounds that ended at the closed gate (the node was paused). */
  readonly stoppedByPause: number;
}

export interface CoordinatorCleanupLoop {
  stats(): CoordinatorCleanupStats;
  /** Ends the loop after the finish in flight; resolves when it ended. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the loop; its first round runs at once. */
export function startCoordinatorCleanup(
  group: StorageGroup,
  gate: Gate | undefined,
  settings: CoordinatorCleanupSettings,
  log: PauseLog,
): CoordinatorCleanupLoop {
  const stop = new AbortController();
  const stats = { rounds: 0, finished: 0, stoppedByPause: 0 };
  // One gate unit per finish; without a gate (benchmarks only) the node cannot be paused anyway.
  const admit =
    gate === undefined
      ? undefined
      : async <T>(finish: () => Promise<T>): Promise<T> => {
          const ticket = await gate.enter();
          try {
            return await finish();
          } finally {
            ticket.release();
          }
        };
  const round = async (): Promise<void> => {
    try {
      const report = await cleanupCoordinator(group, {
        olderThanMs: settings.olderThanMs,
        limit: settings.limit,
        signal: stop.signal,
        ...(admit === undefined ? {} : { admit }),
      });
      stats.finished += report.finished;
    } catch (error) {
      if (stop.signal.aborted) return;
      const e = asStillpointError(error);
      if (e.code === 'GATE_PAUSED') stats.stoppedByPause += 1;
      // A storage down for a moment: the next round retries; say so, once per round.
      else log('coordinator cleanup round failed', { code: e.code, message: e.message });
    } finally {
      stats.rounds += 1;
    }
  };
  const loop = (async () => {
    while (!stop.signal.aborted) {
      await round();
      await sleep(settings.intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  })();
  return {
    stats: () => ({ ...stats }),
    async stop() {
      stop.abort();
      await loop;
    },
  };
}
