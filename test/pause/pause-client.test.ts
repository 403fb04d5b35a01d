import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PauseError } from '../../src/errors.ts';
import type { PauseClient, Target, TargetStatus } from '../../src/pause/contract.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import { parseAddress } from '../../src/pause/targets.ts';
import { closedPort, startNodes, stopNodes, type TestNode } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pauseFailure(p: Promise<unknown>): Promise<PauseError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof PauseError) return error;
    throw error;
  }
  throw new Error('the pause unexpectedly succeeded');
}

describe('pause client: all-or-nothing over real admin servers', () => {
  let nodes: TestNode[];
  let targets: Target[];
  let client: PauseClient;
  beforeAll(async () => {
    nodes = await startNodes(3);
    targets = nodes.map((n) => n.target);
    client = createPauseClient();
  });
  afterEach(() => {
    for (const n of nodes) n.gate.unpause('test cleanup');
  });
  afterAll(async () => {
    client.close();
    await stopNodes(nodes);
  });

  it('pauses every target, reports the window, and unpauses idempotently', async () => {
    const before = Date.now();
    const group = await client.pauseAll(targets);
    try {
      expect(nodes.every((n) => n.gate.paused)).toBe(true);
      expect(group.statuses.map((s) => [s.target, s.ok, s.paused])).toEqual(
        targets.map((t) => [t.label, true, true]),
      );
      expect(group.pausedAtMs).toBeGreaterThanOrEqual(before);
      const check = await group.checkPaused();
      expect(check.allPaused).toBe(true);
    } finally {
      const result = await group.unpause();
      expect(result.ok).toBe(true);
      expect(nodes.some((n) => n.gate.paused)).toBe(false);
      expect(result.window.pausedAtMs).toBe(group.pausedAtMs);
      expect(result.window.unpauseStartedAtMs).toBeGreaterThanOrEqual(group.pausedAtMs);
      expect(result.window.midMs).toBe(
        Math.floor((result.window.pausedAtMs + result.window.unpauseStartedAtMs) / 2),
      );
      expect(await group.unpause()).toBe(result); // idempotent: same result, no second unpause round
    }
  });

  it('checkPaused reports a target someone else unpaused', async () => {
    const group = await client.pauseAll(targets);
    nodes[1]!.gate.unpause('someone else');
    const check = await group.checkPaused();
    expect(check.allPaused).toBe(false);
    expect(check.targets.find((t) => t.target === targets[1]!.label)?.paused).toBe(false);
    await group.unpause();
  });

  it('one target down: the others end unpaused and the pause fails with per-target statuses', async () => {
    const down = parseAddress(`127.0.0.1:${await closedPort()}`);
    const error = await pauseFailure(client.pauseAll([...targets, down]));
    expect(error.code).toBe('PAUSE_FAILED');
    const statuses = error.context.targets as TargetStatus[];
    expect(statuses).toHaveLength(4);
    const downStatus = statuses.find((s) => s.target === down.label)!;
    expect(downStatus).toMatchObject({ ok: false, error: { code: 'TARGET_UNREACHABLE' }, attempts: 3 });
    for (const s of statuses.filter((s) => s.target !== down.label))
      expect(s).toMatchObject({ ok: true, paused: false });
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
  });

  it('a drain timeout at one target rolls the others back', async () => {
    const ticket = await nodes[2]!.gate.enter();
    try {
      const error = await pauseFailure(client.pauseAll(targets, { maxPauseWaitMs: 150 }));
      const statuses = error.context.targets as TargetStatus[];
      expect(statuses[2]).toMatchObject({ ok: false, error: { code: 'PAUSE_TIMED_OUT' }, attempts: 1 });
      expect(statuses[0]).toMatchObject({ ok: true, paused: false });
      expect(nodes.some((n) => n.gate.paused)).toBe(false);
    } finally {
      ticket.release();
    }
  });

  it('an aborted pause is rolled back', async () => {
    const ticket = await nodes[0]!.gate.enter();
    const controller = new AbortController();
    const pausing = client.pauseAll(targets, { signal: controller.signal });
    await sleep(100);
    controller.abort();
    const error = await pauseFailure(pausing);
    ticket.release();
    expect((error.context.targets as TargetStatus[])[0]).toMatchObject({
      ok: false,
      error: { code: 'CANCELLED' },
    });
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
  });

  it('renews a lease every leaseMs/3 while held, and stops renewing after unpause', async () => {
    const group = await client.pauseAll(targets, { leaseMs: 300 });
    await sleep(1_000); // over three leases: only renewals keep the targets paused
    expect(nodes.every((n) => n.gate.paused)).toBe(true);
    expect(nodes.map((n) => n.gate.stats().leaseExpiriesTotal)).toEqual([0, 0, 0]);
    await group.unpause();
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
  });

  it('a lease lapses when the holder stops renewing (no unpause sent)', async () => {
    // A separate client stands for an orchestrator that dies: close() drops its channels and renewals mid-hold.
    const dying = createPauseClient({ callDeadlineMs: 500 });
    const group = await dying.pauseAll([targets[0]!], { leaseMs: 300 });
    expect(group.statuses[0]?.ok).toBe(true);
    dying.close();
    await sleep(800);
    expect(nodes[0]!.gate.paused).toBe(false);
    expect(nodes[0]!.gate.stats().leaseExpiriesTotal).toBeGreaterThanOrEqual(1);
  });
});

describe('pause client: token', () => {
  let nodes: TestNode[];
  beforeAll(async () => {
    nodes = await startNodes(2, { token: 'tok' });
  });
  afterAll(() => stopNodes(nodes));

  it('pauses with the right token and fails UNAUTHENTICATED (no retry) with a wrong one', async () => {
    const good = createPauseClient({ token: 'tok' });
    const bad = createPauseClient({ token: 'nope' });
    try {
      const group = await good.pauseAll(nodes.map((n) => n.target));
      expect(nodes.every((n) => n.gate.paused)).toBe(true);
      await group.unpause();
      const error = await pauseFailure(bad.pauseAll(nodes.map((n) => n.target)));
      expect((error.context.targets as TargetStatus[]).map((s) => [s.error?.code, s.attempts])).toEqual([
        ['UNAUTHENTICATED', 1],
        ['UNAUTHENTICATED', 1],
      ]);
      expect(nodes.some((n) => n.gate.paused)).toBe(false);
    } finally {
      good.close();
      bad.close();
    }
  });
});

describe('pause client: IPv6 literal targets', () => {
  it('pauses [::1]:port', async (context) => {
    let nodes: TestNode[];
    try {
      nodes = await startNodes(1, { host: '::1' });
    } catch {
      context.skip();
      return;
    }
    const client = createPauseClient();
    try {
      const target = parseAddress(nodes[0]!.server.address);
      expect(target.label).toMatch(/^\[::1\]:\d+$/);
      const group = await client.pauseAll([target]);
      expect(nodes[0]!.gate.paused).toBe(true);
      expect((await group.unpause()).ok).toBe(true);
    } finally {
      client.close();
      await stopNodes(nodes);
    }
  });
});
