/**
 * A node in-process on SQLite files, over real gRPC on loopback: the data API, and the pause protocol driven
 * through the real admin service while the bank workload runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkGroup } from '../../src/checker/check.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { parseNodeConfig } from '../../src/node/node-config.ts';
import { bankNodeService } from '../../src/lab/bank/bank-service.ts';
import { startNode, type RunningNode } from '../../src/node/node.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import { parseAddress } from '../../src/pause/targets.ts';
import type { GroupConfig } from '../../src/txn/contract.ts';
import { openGroup } from '../../src/txn/group.ts';
import { BankCallError, createBankClient, type BankClient } from '../../src/lab/bank/bank-client.ts';
import { setupBank } from '../../src/lab/bank/bank-setup.ts';
import { runBankWorkload } from '../../src/lab/bank/bank-workload.ts';

let dir: string;
let group: GroupConfig;
const cleanups: Array<() => Promise<void> | void> = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stillpoint-node-'));
  group = {
    storages: {
      a: { kind: 'sqlite', path: join(dir, 'a.db') },
      b: { kind: 'sqlite', path: join(dir, 'b.db') },
    },
    namespaces: { bank_a: 'a', bank_b: 'b', coordinator: 'a' },
  };
  const opened = await openGroup(group);
  try {
    await setupBank(opened, { accounts: 10, initialBalance: 1000 });
  } finally {
    await opened.close();
  }
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function node(gate: Record<string, unknown> = {}): Promise<RunningNode> {
  const running = await startNode(await parseNodeConfig({ group, listen: { port: 0 }, gate }), {
    log: () => undefined,
    services: [bankNodeService],
  });
  cleanups.push(() => running.close());
  return running;
}

function client(running: RunningNode): BankClient {
  const c = createBankClient(running.address, { deadlineMs: 20_000 });
  cleanups.push(() => c.close());
  return c;
}

async function rejection(promise: Promise<unknown>): Promise<BankCallError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BankCallError);
  return error as BankCallError;
}

describe('node data API', () => {
  it('serves admin and data on one port; transfers are atomic, idempotent by id, and checked', async () => {
    const running = await node();
    expect(running.adminPort).toBe(running.dataPort);
    const c = client(running);
    expect(await c.transfer({ transferId: 'x1', from: 0, to: 1, amount: 30 })).toMatchObject({
      applied: true,
    });
    expect(await c.transfer({ transferId: 'x1', from: 0, to: 1, amount: 30 })).toMatchObject({
      applied: false,
    });
    const balances = await c.getBalances([0, 1, 2, 99]);
    expect(balances.balances.map((b) => [b.account_id, b.balance])).toEqual([
      [0, 970],
      [1, 1030],
      [2, 1000],
    ]);
    expect((await rejection(c.transfer({ transferId: 'x2', from: 0, to: 99, amount: 1 }))).code).toBe(
      'BANK_NO_SUCH_ACCOUNT',
    );
    expect((await rejection(c.createAccounts([3], 5))).code).toBe('BANK_ACCOUNT_EXISTS');
    await c.createAccounts([10, 11], 500);
    const report = await checkGroup(group, { invariants: [bankInvariants], acknowledged: ['x1'] });
    expect(report.violations).toEqual([]);
    expect(report.stats).toMatchObject({
      accounts: 12,
      expectedTotal: 11_000,
      totalBalance: 11_000,
      transfers: 1,
    });
  });

  it('runs ExecuteBatch as one transaction (put, get, delete) and rejects a malformed operation', async () => {
    const c = client(await node());
    const op = (kind: string, key: object, values?: object) => ({
      kind,
      namespace: 'bank_b',
      table: 'accounts',
      key_json: JSON.stringify(key),
      values_json: values ? JSON.stringify(values) : '',
    });
    const first = await c.executeBatch([
      op('get', { account_id: 1 }),
      op('put', { account_id: 1 }, { balance: 7 }),
    ]);
    expect(first.results[0]).toMatchObject({ found: true });
    expect(JSON.parse(first.results[0]?.row_json ?? '{}')).toMatchObject({ account_id: 1 });
    const second = await c.executeBatch([op('get', { account_id: 1 }), op('delete', { account_id: 3 })]);
    expect(JSON.parse(second.results[0]?.row_json ?? '{}')).toMatchObject({ balance: 7 });
    const third = await c.executeBatch([op('get', { account_id: 3 })]);
    expect(third.results[0]?.found).toBe(false);
    expect((await rejection(c.executeBatch([op('upsert', { account_id: 1 })]))).code).toBe(
      'BANK_BAD_REQUEST',
    );
    // The raw changes broke the bank's invariants: the checker must say so.
    const report = await checkGroup(group, { invariants: [bankInvariants] });
    expect(report.violations.map((v) => v.kind).sort()).toEqual([
      'account-count-mismatch',
      'balance-not-conserved',
    ]);
  });
});

describe('node under the pause protocol', () => {
  it('a pause during the workload makes clients wait, not fail; the gate admits nothing while paused; unpause resumes', async () => {
    const running = await node();
    const pauses = createPauseClient({ callDeadlineMs: 10_000 });
    cleanups.push(() => pauses.close());
    // Ended by the test once work resumed after the unpause (not by time: a loaded machine is slow).
    const stopLoad = new AbortController();
    const workload = runBankWorkload({
      targets: [running.address],
      accounts: 10,
      concurrency: 4,
      durationMs: 90_000,
      signal: stopLoad.signal,
    });
    await waitUntil(() => (running.gate?.stats().admittedTotal ?? 0) > 20);
    const paused = await pauses.pauseAll([parseAddress(running.address)]);
    try {
      expect(running.gate?.stats()).toMatchObject({ paused: true, outstanding: 0 });
      const admittedAtPause = running.gate?.stats().admittedTotal;
      expect((await paused.checkPaused()).allPaused).toBe(true);
      await waitUntil(() => (running.gate?.stats().rejectedTotal ?? 0) >= 4);
      expect(running.gate?.stats().admittedTotal).toBe(admittedAtPause);
    } finally {
      expect((await paused.unpause()).ok).toBe(true);
    }
    const admittedAtUnpause = running.gate?.stats().admittedTotal ?? 0;
    await waitUntil(() => (running.gate?.stats().admittedTotal ?? 0) > admittedAtUnpause + 4);
    stopLoad.abort();
    const report = await workload;
    expect(report.failed).toBe(0);
    expect(report.retriesByReason.unavailable).toBeGreaterThan(0);
    expect(report.pausedWaitMs).toBeGreaterThan(0);
    // The stall clients felt: the rejected transfers' retries, backoff included.
    expect(report.pauseStallMs.transfers).toBeGreaterThan(0);
    expect(report.pauseStallMs.max).toBeGreaterThanOrEqual(report.pausedWaitMaxMs);
    expect(running.gate?.stats().admittedTotal).toBeGreaterThan(admittedAtUnpause);
    const check = await checkGroup(group, {
      invariants: [bankInvariants],
      acknowledged: report.acknowledged,
    });
    expect(check.violations).toEqual([]);
    expect(check.stats.transfers).toBe(report.committed - report.duplicates);
  });

  it('a pause longer than the retry budget fails transfers, and a failed transfer is never acknowledged', async () => {
    const running = await node();
    const pauses = createPauseClient();
    cleanups.push(() => pauses.close());
    const paused = await pauses.pauseAll([parseAddress(running.address)]);
    try {
      const report = await runBankWorkload({
        targets: [running.address],
        accounts: 10,
        concurrency: 2,
        transfers: 2,
        unavailableAttempts: 2,
      });
      expect(report).toMatchObject({ committed: 0, failed: 2, errors: { GATE_PAUSED: 2 }, acknowledged: [] });
      expect(report.pausedWaitMs).toBeGreaterThan(0);
    } finally {
      await paused.unpause();
    }
  });

  it('hold mode: a call made while paused waits and completes after the unpause', async () => {
    const running = await node({ whilePaused: 'hold', maxHoldMs: 20_000 });
    const pauses = createPauseClient();
    cleanups.push(() => pauses.close());
    const paused = await pauses.pauseAll([parseAddress(running.address)]);
    let settled = false;
    const call = client(running)
      .transfer({ transferId: 'held', from: 2, to: 3, amount: 1 })
      .finally(() => (settled = true));
    await waitUntil(() => (running.gate?.stats().heldTotal ?? 0) >= 1);
    expect(settled).toBe(false);
    await paused.unpause();
    expect(await call).toMatchObject({ applied: true });
  });

  it('hold mode under the workload: no retries, and each held transfer reports the stall the node held it for', async () => {
    const running = await node({ whilePaused: 'hold', maxHoldMs: 20_000 });
    const pauses = createPauseClient({ callDeadlineMs: 10_000 });
    cleanups.push(() => pauses.close());
    const stopLoad = new AbortController();
    const workload = runBankWorkload({
      targets: [running.address],
      accounts: 10,
      concurrency: 4,
      durationMs: 90_000,
      signal: stopLoad.signal,
    });
    await waitUntil(() => (running.gate?.stats().admittedTotal ?? 0) > 20);
    const paused = await pauses.pauseAll([parseAddress(running.address)]);
    let heldFor: number;
    try {
      await waitUntil(() => (running.gate?.stats().heldTotal ?? 0) >= 4);
      const since = Date.now();
      await new Promise((r) => setTimeout(r, 300));
      heldFor = Date.now() - since;
    } finally {
      expect((await paused.unpause()).ok).toBe(true);
    }
    const admittedAtUnpause = running.gate?.stats().admittedTotal ?? 0;
    await waitUntil(() => (running.gate?.stats().admittedTotal ?? 0) > admittedAtUnpause + 4);
    stopLoad.abort();
    const report = await workload;
    expect(report.failed).toBe(0);
    expect(report.retriesByReason.unavailable).toBe(0);
    expect(report.pausedWaitMs).toBe(0);
    // At least the four transfers held before the 300 ms wait stalled for at least that wait.
    expect(report.pauseStallMs.transfers).toBeGreaterThanOrEqual(4);
    expect(report.pauseStallMs.max).toBeGreaterThanOrEqual(heldFor);
  });

  it('with the gate disabled there is no admin service, so a pause fails instead of lying', async () => {
    const running = await node({ enabled: false });
    expect(running.gate).toBeUndefined();
    const pauses = createPauseClient({ callDeadlineMs: 5_000 });
    cleanups.push(() => pauses.close());
    const error = await pauses.pauseAll([parseAddress(running.address)]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'PAUSE_FAILED' });
    expect(await client(running).transfer({ transferId: 'free', from: 0, to: 1, amount: 1 })).toMatchObject({
      applied: true,
    });
  });
});

describe('node admin security', () => {
  it('serves data and admin over TLS on one port and requires the admin token (negative controls: no token, plaintext)', async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=node.stillpoint.test',
        '-addext',
        'subjectAltName=DNS:node.stillpoint.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const config = await parseNodeConfig(
      {
        group,
        listen: { port: 0 },
        admin: { token: 's3cret', tls: { certFile: 'cert.pem', keyFile: 'key.pem' } },
      },
      { baseDir: dir },
    );
    const running = await startNode(config, { log: () => undefined, services: [bankNodeService] });
    cleanups.push(() => running.close());
    const tls = {
      caPem: await readFile(join(dir, 'cert.pem'), 'utf8'),
      overrideAuthority: 'node.stillpoint.test',
    };
    const target = [parseAddress(running.address)];

    const data = createBankClient(running.address, { tls, token: 's3cret' });
    cleanups.push(() => data.close());
    expect(await data.transfer({ transferId: 'tls', from: 0, to: 1, amount: 1 })).toMatchObject({
      applied: true,
    });
    const plain = createBankClient(running.address, { deadlineMs: 3_000 });
    cleanups.push(() => plain.close());
    expect(
      (await rejection(plain.transfer({ transferId: 'plain', from: 0, to: 1, amount: 1 }))).status,
    ).not.toBe(0);

    const noToken = createPauseClient({ tls, callDeadlineMs: 5_000 });
    cleanups.push(() => noToken.close());
    await expect(noToken.pauseAll(target)).rejects.toMatchObject({ code: 'PAUSE_FAILED' });
    expect(running.gate?.paused).toBe(false);

    const withToken = createPauseClient({ tls, token: 's3cret', callDeadlineMs: 5_000 });
    cleanups.push(() => withToken.close());
    const paused = await withToken.pauseAll(target);
    expect(running.gate?.paused).toBe(true);
    await paused.unpause();
    expect(running.gate?.paused).toBe(false);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
