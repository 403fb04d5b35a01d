/**
 * A trial's group made ready: the bank seeded, the node processes started (with their settings: lazy-recovery
 * expiry, paused behaviour, Coordinator cleanup), the bank workload over them; and the Coordinator rows the
 * `coordinator-cleanup` fault counts.
 */
import type { ClockOffsetChoice } from './fault-apply.ts';
import { runBankWorkload, type BankReport } from '../bank/bank-workload.ts';
import { setupBank } from '../bank/bank-setup.ts';
import { transfersRef, BANK_A } from '../bank/bank-schema.ts';
import { openGroup } from '../../txn/group.ts';
import { COORDINATOR_NAMESPACE, COORDINATOR_TABLE } from '../../txn/schema.ts';
import type { TrialDatabases } from './group.ts';
import { startTrialNode, type TrialNode, type TrialNodeSettings } from './nodes.ts';
import type { TrialSizes } from './sizes.ts';

export function nodeSettings(sizes: TrialSizes): TrialNodeSettings {
  return {
    expiryMs: sizes.expiryMs,
    ...(sizes.whilePaused ? { whilePaused: sizes.whilePaused } : {}),
    ...(sizes.coordinatorCleanup ? { coordinatorCleanup: sizes.coordinatorCleanup } : {}),
  };
}

/** Coordinator rows left, and transfers ever made (one row each before cleanup), in the live group. */
export async function coordinatorRowsLeft(
  databases: TrialDatabases,
): Promise<{ rows: number; transfers: number }> {
  const group = await openGroup(databases.group);
  try {
    let rows = 0;
    for await (const _ of group.storageFor(COORDINATOR_NAMESPACE).scanAll(COORDINATOR_TABLE)) rows += 1;
    let transfers = 0;
    for await (const _ of group.storageFor(BANK_A).scanAll(transfersRef(BANK_A))) transfers += 1;
    return { rows, transfers };
  } finally {
    await group.close();
  }
}

/** Creates the bank tables and accounts in a fresh group. */
export async function seedBank(databases: TrialDatabases, accounts: number): Promise<void> {
  const group = await openGroup(databases.group);
  try {
    await setupBank(group, { accounts });
  } finally {
    await group.close();
  }
}

/** What a kept group's nodes must share with the next trial's: their count and settings. */
export function nodesKey(sizes: TrialSizes): string {
  return JSON.stringify([
    sizes.nodes,
    sizes.expiryMs,
    sizes.whilePaused ?? 'reject',
    ...(sizes.coordinatorCleanup ? [sizes.coordinatorCleanup] : []),
  ]);
}

/** Names of the planned nodes of a trial. */
export function nodeNames(sizes: TrialSizes): string[] {
  return Array.from({ length: sizes.nodes }, (_, i) => `n${i + 1}`);
}

/**
 * Starts `sizes.nodes` node processes in parallel (the one `clock` names with its clock offset); each
 * one's close is pushed onto `cleanups`.
 */
export async function startNodes(
  dir: string,
  databases: TrialDatabases,
  sizes: TrialSizes,
  cleanups: Array<() => Promise<void>>,
  clock?: ClockOffsetChoice,
): Promise<TrialNode[]> {
  const offset = (name: string): number => (clock?.process === name ? clock.offsetMs : 0);
  const started = await Promise.allSettled(
    nodeNames(sizes).map((name) =>
      startTrialNode(dir, name, databases.group, { ...nodeSettings(sizes), clockOffsetMs: offset(name) }),
    ),
  );
  const nodes: TrialNode[] = [];
  for (const s of started) {
    if (s.status === 'fulfilled') {
      nodes.push(s.value);
      cleanups.push(() => s.value.close());
    }
  }
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return nodes;
}

/** The bank workload over `targets` until `signal` aborts. */
export function startLoad(
  sizes: TrialSizes,
  targets: readonly string[],
  signal: AbortSignal,
): Promise<BankReport> {
  return runBankWorkload({
    targets,
    accounts: sizes.accounts,
    concurrency: sizes.concurrency,
    signal,
    // Enough attempts to ride out a pause plus a lease expiry without losing the transfer.
    unavailableAttempts: 20,
  });
}
