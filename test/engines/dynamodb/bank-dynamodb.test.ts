/**
 * The bank workload on a DynamoDB group (real dynalite on loopback): two `stillpoint node` processes with
 * `kind: dynamodb` storages in their group config, concurrent transfers, then the checker; and a mixed
 * group (bank_a on SQLite, bank_b and the Coordinator on DynamoDB) with a node SIGKILLed mid-workload.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkGroup } from '../../../src/checker/check.ts';
import { startLocalDynalite, type LocalDynalite } from '../../../src/lab/local-servers/dynalite-server.ts';
import { startCli, type CliProcess } from '../../../src/lab/trials/cli-process.ts';
import type { GroupConfig } from '../../../src/txn/contract.ts';
import { openGroup } from '../../../src/txn/group.ts';
import { bankInvariants } from '../../../src/lab/bank/bank-invariants.ts';
import { setupBank } from '../../../src/lab/bank/bank-setup.ts';
import { runBankWorkload } from '../../../src/lab/bank/bank-workload.ts';

const ACCOUNTS = 20;
let dir: string;
let dyn: LocalDynalite;
const processes: CliProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-bank-dyn-'));
  dyn = await startLocalDynalite();
});
afterEach(async () => {
  for (const p of processes.splice(0)) {
    if (p.running) p.kill('SIGKILL');
    await p.exited;
  }
});
afterAll(async () => {
  await dyn?.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function startNode(
  name: string,
  group: GroupConfig,
): Promise<{ process: CliProcess; address: string }> {
  const file = join(dir, `${name}-${Date.now()}.yaml`);
  await writeFile(file, stringify({ name, group, listen: { host: '127.0.0.1', port: 0 }, expiryMs: 1_000 }), {
    mode: 0o600,
  });
  const child = startCli({ args: ['node', '--config', file, '--json'] });
  processes.push(child);
  const line = await child.waitForLine((_l, json) => json?.event === 'ready', 60_000);
  return { process: child, address: (JSON.parse(line) as { address: string }).address };
}

async function seed(group: GroupConfig): Promise<void> {
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: ACCOUNTS, initialBalance: 1000 });
  } finally {
    await opened.close();
  }
}

describe('bank on DynamoDB (dynalite), node processes', () => {
  it('concurrent transfers through two nodes on an all-DynamoDB group leave a consistent bank', async () => {
    const group: GroupConfig = {
      storages: { a: dyn.connection('two_a_'), b: dyn.connection('two_b_') },
      namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'a' },
    };
    await seed(group);
    const nodes = await Promise.all([startNode('n1', group), startNode('n2', group)]);
    const report = await runBankWorkload({
      targets: nodes.map((n) => n.address),
      accounts: ACCOUNTS,
      concurrency: 6,
      durationMs: 3_000,
    });
    for (const n of nodes) n.process.kill('SIGTERM');
    for (const n of nodes) expect((await n.process.exited).code).toBe(0);
    expect(report.failed).toBe(0);
    expect(report.committed).toBeGreaterThan(0);
    const check = await checkGroup(group, {
      invariants: [bankInvariants],
      sweep: true,
      expiryMs: 0,
      acknowledged: report.acknowledged,
    });
    expect(check.violations).toEqual([]);
    expect(check.stats).toMatchObject({
      accounts: ACCOUNTS,
      totalBalance: ACCOUNTS * 1000,
      transfers: report.committed - report.duplicates,
    });
  });

  it('mixed SQLite + DynamoDB (Coordinator on DynamoDB): a node SIGKILLed mid-workload, the sweep and the checker pass', async () => {
    const group: GroupConfig = {
      storages: { lite: { kind: 'sqlite', path: join(dir, 'mixed-a.db') }, dyn: dyn.connection('mixed_') },
      namespaces: { bank_a: 'lite', bank_b: 'dyn', coordinator: 'dyn' },
    };
    await seed(group);
    const [victim, survivor] = await Promise.all([startNode('victim', group), startNode('survivor', group)]);
    const controller = new AbortController();
    let committedAtKill: number | undefined;
    const report = await runBankWorkload({
      targets: [victim.address, survivor.address],
      accounts: ACCOUNTS,
      concurrency: 6,
      durationMs: 90_000,
      unavailableAttempts: 3,
      signal: controller.signal,
      onProgress: (p) => {
        if (committedAtKill === undefined && p.committed >= 20) {
          committedAtKill = p.committed;
          victim.process.kill('SIGKILL');
        } else if (committedAtKill !== undefined && p.committed >= committedAtKill + 20) controller.abort();
      },
    });
    expect(committedAtKill).toBeDefined();
    expect(report.failed).toBe(0);
    survivor.process.kill('SIGTERM');
    expect((await survivor.process.exited).code).toBe(0);
    const check = await checkGroup(group, {
      invariants: [bankInvariants],
      sweep: true,
      expiryMs: 0,
      acknowledged: report.acknowledged,
    });
    expect(check.violations).toEqual([]);
    expect(check.stats.unfinished).toBe(0);
    expect(check.stats.totalBalance).toBe(ACCOUNTS * 1000);
    expect(check.stats.transfers).toBeGreaterThanOrEqual(report.committed - report.duplicates);
  });
});
