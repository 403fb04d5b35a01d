/**
 * A seeded group and its running nodes, kept from one trial to the next of the same group kind: building a
 * group and starting its node processes was most of a trial's cost. A kept group is reused only when the
 * previous trial left it whole (no violation, no harness error, every node running and unpaused — the trial
 * checked that — every proxy back to pass) and the next trial wants the same nodes (same gate behaviour, no
 * clock offset); after `reuse` trials it is replaced, so history (transactions, Coordinator states) stays
 * small and a leftover of one trial cannot shape more than a few after it.
 *
 * Reuse keeps every check: a trial's backup copies the whole group, its restore is checked whole, the live
 * check runs the bank invariants over every account, and the acknowledged transfers of THIS trial must all
 * be there. `reuse: 1` builds a fresh group for every trial.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { GroupKind } from './faults.ts';
import type { TrialDatabases, TrialGroupServers } from './group.ts';
import type { TrialNode } from './nodes.ts';

export interface GroupLease {
  readonly databases: TrialDatabases;
  readonly nodes: readonly TrialNode[];
  /** Whether this group served an earlier trial. */
  readonly reused: boolean;
  /** Gives the group back after the trial: kept when `whole`, else closed (nodes, then the group). */
  release(whole: boolean): Promise<void>;
}

/** Builds a seeded group with running nodes (the trial's own code: ./trial.ts). */
export type BuildGroup = (
  dir: string,
  servers: TrialGroupServers,
  cleanups: Array<() => Promise<void>>,
) => Promise<{ databases: TrialDatabases; nodes: TrialNode[] }>;

interface Kept {
  readonly key: string;
  readonly databases: TrialDatabases;
  readonly nodes: readonly TrialNode[];
  readonly cleanups: Array<() => Promise<void>>;
  served: number;
}

export class GroupPool {
  /**
   * At most one group per kind is alive: a group kind may hold fixed names on its shared servers (a MySQL
   * namespace is a database named after it), which a new group of that kind drops and creates again.
   */
  private readonly kept = new Map<GroupKind, Kept>();

  /** `base`: where groups' directories go; `reuse`: trials one group serves at most (1: never reused). */
  constructor(
    private readonly base: string,
    private readonly reuse: number,
  ) {}

  /**
   * A group for one trial: the kept one when its `key` (the nodes' settings) matches and it has served fewer
   * than `reuse` trials, else a fresh one from `build`. `poolable: false` (e.g. a node with an offset clock)
   * always builds a fresh group and closes it after the trial.
   */
  async acquire(
    group: GroupKind,
    servers: TrialGroupServers,
    key: string,
    poolable: boolean,
    build: BuildGroup,
  ): Promise<GroupLease> {
    const kept = this.kept.get(group);
    if (kept !== undefined) {
      this.kept.delete(group);
      if (poolable && kept.key === key && kept.served < this.reuse) {
        // A service clock skewed by the previous trial's fault runs true again (create() does that too).
        servers.skewServiceClock?.(0);
        kept.served += 1;
        return this.lease(group, kept, true, poolable);
      }
      await closeAll(kept.cleanups);
    }
    const dir = await mkdtemp(join(this.base, `${group.replace(/\W/g, '-')}-`));
    const cleanups: Array<() => Promise<void>> = [];
    try {
      const { databases, nodes } = await build(dir, servers, cleanups);
      return this.lease(group, { key, databases, nodes, cleanups, served: 1 }, false, poolable);
    } catch (error) {
      await closeAll(cleanups);
      throw error;
    }
  }

  private lease(group: GroupKind, kept: Kept, reused: boolean, poolable: boolean): GroupLease {
    return {
      databases: kept.databases,
      nodes: kept.nodes,
      reused,
      release: async (whole) => {
        const intact =
          whole &&
          poolable &&
          this.reuse > 1 &&
          kept.served < this.reuse &&
          kept.nodes.every((n) => n.running);
        if (!intact) return closeAll(kept.cleanups);
        for (const node of kept.nodes) node.proxy.setMode({ kind: 'pass' });
        for (const proxy of kept.databases.proxies.values()) proxy.setMode({ kind: 'pass' });
        this.kept.set(group, kept);
      },
    };
  }

  /** Closes the kept group of a kind, if any (its shared servers are about to be replaced). */
  async discard(group: GroupKind): Promise<void> {
    const kept = this.kept.get(group);
    this.kept.delete(group);
    if (kept !== undefined) await closeAll(kept.cleanups);
  }

  /** Closes every kept group (the end of the campaign). */
  async close(): Promise<void> {
    for (const kept of this.kept.values()) await closeAll(kept.cleanups);
    this.kept.clear();
  }
}

async function closeAll(cleanups: Array<() => Promise<void>>): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
}
