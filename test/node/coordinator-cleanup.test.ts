/**
 * The node's periodic Coordinator cleanup (`coordinatorCleanup`, src/node/coordinator-cleanup.ts) on SQLite
 * files: it finishes and deletes decided rows while the node runs, and does nothing while the node is paused
 * (each finish is a gate unit), in reject and in hold mode.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseNodeConfig } from '../../src/node/node-config.ts';
import { startNode, type RunningNode } from '../../src/node/node.ts';
import { createTransactionManager } from '../../src/txn/consensus-commit.ts';
import type { GroupConfig, StorageGroup } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { COORDINATOR_TABLE } from '../../src/txn/schema.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';
import { accountsRef } from '../../src/lab/bank/bank-schema.ts';

let dir: string;
let config: GroupConfig;
let group: StorageGroup;
const cleanups: Array<() => Promise<void>> = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-node-cleanup-'));
  config = {
    storages: {
      a: { kind: 'sqlite', path: join(dir, 'a.db') },
      b: { kind: 'sqlite', path: join(dir, 'b.db') },
    },
    namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'b' },
  };
  group = await openGroup(config);
  await setupBank(group, { accounts: 4, initialBalance: 100 });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await group.close();
  await rm(dir, { recursive: true, force: true });
});

async function node(whilePaused: 'reject' | 'hold'): Promise<RunningNode> {
  const running = await startNode(
    await parseNodeConfig({
      group: config,
      listen: { port: 0 },
      gate: { whilePaused },
      coordinatorCleanup: { intervalMs: 30, olderThanMs: 0 },
    }),
    { log: () => undefined },
  );
  cleanups.push(() => running.close());
  return running;
}

/** A committed transaction of another process (not gated by this node), its id. */
async function commitElsewhere(): Promise<string> {
  const tm = createTransactionManager({ group });
  return tm.run(async (tx) => {
    const row = await tx.get(accountsRef('bank_a'), { account_id: 0 });
    tx.put(accountsRef('bank_a'), { account_id: 0 }, { balance: Number(row?.balance) + 1 });
    return tx.id;
  });
}

const rowOf = (txId: string) => group.storageFor('coordinator').get(COORDINATOR_TABLE, { tx_id: txId });

async function until(condition: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe.each(['reject', 'hold'] as const)('node coordinatorCleanup (gate: %s)', (whilePaused) => {
  it('deletes decided rows while running, none while paused, and catches up after the unpause', async () => {
    const running = await node(whilePaused);
    const before = await commitElsewhere();
    await until(async () => (await rowOf(before)) === undefined);
    expect(running.stats().coordinatorCleanup?.finished).toBeGreaterThan(0);

    await running.gate?.pause({ waitOutstanding: true });
    const during = await commitElsewhere();
    const roundsAtPause = running.stats().coordinatorCleanup?.rounds ?? 0;
    await sleep(300);
    expect(await rowOf(during)).toMatchObject({ tx_state: 3 });
    if (whilePaused === 'reject') {
      // Rounds go on and end at the closed gate; a held round waits at it instead.
      expect(running.stats().coordinatorCleanup?.rounds).toBeGreaterThan(roundsAtPause + 2);
      expect(running.stats().coordinatorCleanup?.stoppedByPause).toBeGreaterThan(2);
    }
    running.gate?.unpause('test');
    await until(async () => (await rowOf(during)) === undefined);
  });
});
