/**
 * Ownership of a running backup by heartbeat (docs/decisions/0006-catalog-migrations-and-ownership.md).
 *
 * A run gets a random owner id and renews `heartbeat_at_ms` in the catalog every leaseMs/3 (bounded to
 * 250 ms … 10 s), for as long as it lives, in every state. Any process on any host that shares the catalog
 * judges the run lost when its heartbeat is older than `staleAfterMs` = 2 × the longest pause lease of the
 * plan + {@link STALE_MARGIN_MS}: by then every lease the run held has lapsed on servers that honour leases,
 * and a live run would have renewed at least six times. Host names and PIDs are never used: another host
 * cannot check them, containers share PIDs, and PIDs are reused.
 *
 * The margin also absorbs clock skew between hosts (heartbeats carry the owner's wall clock): keep hosts
 * sharing a catalog within a few seconds (NTP).
 */
import type { Catalog } from '../catalog/contract.ts';
import { newOwnerId } from '../catalog/contract.ts';
import type { Plan } from '../plan/load-plan.ts';

/** Lease assumed when the plan pauses no cluster (the plan schema's default lease). */
const DEFAULT_LEASE_MS = 15_000;
export const STALE_MARGIN_MS = 5_000;
const MIN_HEARTBEAT_MS = 250;
const MAX_HEARTBEAT_MS = 10_000;

export interface RunOwnership {
  readonly ownerId: string;
  readonly staleAfterMs: number;
  readonly heartbeatEveryMs: number;
}

/** A fresh owner id and the heartbeat timing derived from the plan's longest lease. */
export function ownershipFor(plan: Pick<Plan, 'clusters'>): RunOwnership {
  const leaseMs = Math.max(0, ...plan.clusters.map((c) => c.leaseMs)) || DEFAULT_LEASE_MS;
  return {
    ownerId: newOwnerId(),
    staleAfterMs: 2 * leaseMs + STALE_MARGIN_MS,
    heartbeatEveryMs: Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, Math.floor(leaseMs / 3))),
  };
}

export interface Heartbeat {
  stop(): void;
}

/**
 * Renews the run's heartbeat until `stop()` (call it in a `finally`), or until the catalog says the run is no
 * longer this owner's (terminal or taken over). The timer is unref'd: it never keeps a process alive.
 */
export function startHeartbeat(catalog: Catalog, backupId: string, ownership: RunOwnership): Heartbeat {
  const timer = setInterval(() => {
    try {
      if (!catalog.heartbeat(backupId, ownership.ownerId, Date.now())) clearInterval(timer);
    } catch {
      // A busy or briefly unavailable catalog: the next tick retries; the stale bound leaves room for several.
    }
  }, ownership.heartbeatEveryMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
