/**
 * Watches every node of a trial with CheckPaused (direct addresses, never through the fault proxies), to
 * measure the longest time any node stayed paused and to check that all of them end unpaused. Polling gives
 * a lower bound on pause durations (resolution: the poll interval plus one round trip).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PauseClient, Target } from '../../pause/contract.ts';

export interface PauseMonitor {
  /** Longest continuous paused stretch seen on any node, ms. */
  longestPausedMs(): number;
  /** Nodes paused at the last poll (labels). */
  pausedNow(): readonly string[];
  /**
   * Polls until no reachable node reports paused, or `timeoutMs` passes; returns the labels still paused
   * (empty when all ended unpaused). Unreachable nodes (killed) count as not paused: a dead gate holds nothing.
   */
  waitAllUnpaused(timeoutMs: number): Promise<readonly string[]>;
  stop(): Promise<void>;
}

/** Starts polling `targets` every `intervalMs` (default 25). */
export function startPauseMonitor(
  client: PauseClient,
  targets: () => readonly Target[],
  intervalMs = 25,
): PauseMonitor {
  const since = new Map<string, number>();
  let longest = 0;
  let paused: string[] = [];
  let stopped = false;

  const poll = async (): Promise<void> => {
    const statuses = await client.checkPausedAll(targets());
    const now = Date.now();
    const next: string[] = [];
    for (const s of statuses) {
      if (s.ok && s.paused === true) {
        next.push(s.target);
        const start = since.get(s.target) ?? now;
        since.set(s.target, start);
        longest = Math.max(longest, now - start);
      } else if (s.ok) {
        since.delete(s.target);
      }
      // An unreachable node keeps its paused-since: if it comes back paused, the stretch continues.
    }
    paused = next;
  };

  const loop = (async () => {
    while (!stopped) {
      await poll().catch(() => undefined);
      await sleep(intervalMs);
    }
  })();

  return {
    longestPausedMs: () => longest,
    pausedNow: () => paused,
    async waitAllUnpaused(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await poll().catch(() => undefined);
        if (paused.length === 0) return [];
        if (Date.now() >= deadline) return paused;
        await sleep(intervalMs);
      }
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
