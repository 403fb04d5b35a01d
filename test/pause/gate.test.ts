import { afterEach, describe, expect, it } from 'vitest';
import { PauseError } from '../../src/errors.ts';
import type { Gate, GateTicket } from '../../src/pause/contract.ts';
import { createGate, type PauseLog } from '../../src/pause/gate.ts';

const logs: Array<{ message: string; fields?: Record<string, unknown> }> = [];
const log: PauseLog = (message, fields) => logs.push({ message, ...(fields ? { fields } : {}) });
afterEach(() => {
  logs.length = 0;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Settles to 'pending' if `p` has not settled within `ms`. */
async function stateAfter(p: Promise<unknown>, ms: number): Promise<'fulfilled' | 'rejected' | 'pending'> {
  return Promise.race([
    p.then(
      () => 'fulfilled' as const,
      () => 'rejected' as const,
    ),
    sleep(ms).then(() => 'pending' as const),
  ]);
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (error) {
    return error instanceof PauseError ? error.code : `not a PauseError: ${String(error)}`;
  }
}

/** A multi-request transaction: one ticket from begin to commit, requests in between are not gated. */
function beginTransaction(gate: Gate): Promise<{ request(): void; commit(): void; ticket: GateTicket }> {
  return gate.enter().then((ticket) => ({
    ticket,
    request: () => undefined,
    commit: () => ticket.release(),
  }));
}

describe('gate', () => {
  it('drains in-flight multi-request transactions before the pause completes', async () => {
    const gate = createGate({ log });
    const tx1 = await beginTransaction(gate);
    const tx2 = await beginTransaction(gate);
    const pause = gate.pause({ waitOutstanding: true, maxWaitMs: 10_000 });
    expect(gate.paused).toBe(true);
    // Requests inside admitted transactions still run while the gate is closed; new work is refused.
    tx1.request();
    expect(await codeOf(gate.enter())).toBe('GATE_PAUSED');
    tx1.commit();
    expect(await stateAfter(pause, 50)).toBe('pending');
    tx2.request();
    tx2.commit();
    await pause;
    expect(gate.stats()).toMatchObject({ outstanding: 0, paused: true, pausesTotal: 1, rejectedTotal: 1 });
    expect(gate.stats().lastDrainMs).not.toBeNull();
    gate.unpause();
    expect(gate.paused).toBe(false);
    (await gate.enter()).release();
  });

  it('releases a ticket exactly once when completion and error race', async () => {
    const gate = createGate({ log });
    const a = await gate.enter();
    const b = await gate.enter();
    a.release();
    a.release(); // the racing second release must not steal b's count
    expect(gate.stats().outstanding).toBe(1);
    const pause = gate.pause({ waitOutstanding: true, maxWaitMs: 10_000 });
    expect(await stateAfter(pause, 30)).toBe('pending');
    b.release();
    await pause;
    gate.unpause();
  });

  it('times out a drain, reopens the gate and fails PAUSE_TIMED_OUT', async () => {
    const gate = createGate({ log });
    const idle = await gate.enter(); // an idle open transaction holds up the drain
    expect(await codeOf(gate.pause({ waitOutstanding: true, maxWaitMs: 100 }))).toBe('PAUSE_TIMED_OUT');
    expect(gate.paused).toBe(false);
    expect(gate.stats().pauseTimeoutsTotal).toBe(1);
    (await gate.enter()).release();
    idle.release();
  });

  it('race 1: a timed-out pause does not reopen a gate an earlier successful pause closed', async () => {
    const gate = createGate({ log });
    const straggler = await gate.enter();
    await gate.pause({ waitOutstanding: false }); // succeeds at once, gate closed, 1 outstanding
    expect(await codeOf(gate.pause({ waitOutstanding: true, maxWaitMs: 100 }))).toBe(
      'PAUSE_TIMED_OUT_STILL_PAUSED',
    );
    expect(gate.paused).toBe(true);
    expect(await codeOf(gate.enter())).toBe('GATE_PAUSED');
    straggler.release();
    gate.unpause();
  });

  it('race 2: an unpause during a drain makes that pause fail PAUSE_INTERRUPTED', async () => {
    const gate = createGate({ log });
    const ticket = await gate.enter();
    const pause = gate.pause({ waitOutstanding: true, maxWaitMs: 10_000 });
    await sleep(20);
    gate.unpause();
    // Even once work drains, the interrupted pause must not report success with the gate open.
    ticket.release();
    expect(await codeOf(pause)).toBe('PAUSE_INTERRUPTED');
    expect(gate.paused).toBe(false);
  });

  it('race 3: pauses are serialised; a pause queued before an unpause never closes the gate after it', async () => {
    const gate = createGate({ log });
    const ticket = await gate.enter();
    const first = gate.pause({ waitOutstanding: true, maxWaitMs: 10_000 });
    const second = gate.pause({ waitOutstanding: false });
    // The second pause waits for the first even though it would not drain.
    expect(await stateAfter(second, 50)).toBe('pending');
    ticket.release();
    await first;
    await second;
    expect(gate.paused).toBe(true);

    const blocker = await (async () => {
      gate.unpause();
      return gate.enter();
    })();
    const draining = gate.pause({ waitOutstanding: true, maxWaitMs: 10_000 });
    const queued = gate.pause({ waitOutstanding: false });
    gate.unpause();
    blocker.release();
    expect(await codeOf(draining)).toBe('PAUSE_INTERRUPTED');
    expect(await codeOf(queued)).toBe('PAUSE_INTERRUPTED');
    expect(gate.paused).toBe(false);
  });

  it('serialised pauses both succeed and leave one closed gate', async () => {
    const gate = createGate({ log });
    const results = await Promise.allSettled([
      gate.pause({ waitOutstanding: true }),
      gate.pause({ waitOutstanding: true }),
      gate.pause({ waitOutstanding: true }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(gate.stats().pausesTotal).toBe(3);
    gate.unpause();
    gate.unpause(); // idempotent
    expect(gate.paused).toBe(false);
  });

  it('a pause lease expires, unpauses by itself and logs why', async () => {
    const gate = createGate({ log });
    await gate.pause({ waitOutstanding: true, leaseMs: 150 });
    expect(gate.paused).toBe(true);
    await sleep(400);
    expect(gate.paused).toBe(false);
    expect(gate.stats().leaseExpiriesTotal).toBe(1);
    expect(logs.some((l) => l.message.includes('lease expired'))).toBe(true);
  });

  it('a renewed lease keeps the gate closed; a pause without a lease is not given one by renewLease', async () => {
    const gate = createGate({ log });
    await gate.pause({ waitOutstanding: true, leaseMs: 300 });
    for (let i = 0; i < 6; i++) {
      await sleep(100);
      gate.renewLease(300);
    }
    expect(gate.paused).toBe(true); // 600 ms > one lease: only renewals kept it closed
    gate.unpause();

    await gate.pause({ waitOutstanding: true });
    gate.renewLease(50);
    await sleep(200);
    expect(gate.paused).toBe(true);
    expect(gate.stats().leaseExpiriesTotal).toBe(0);
    gate.unpause();
  });

  it('unpause clears the lease timer', async () => {
    const gate = createGate({ log });
    await gate.pause({ waitOutstanding: true, leaseMs: 100 });
    gate.unpause();
    await gate.pause({ waitOutstanding: true }); // no lease: must not be ended by the old timer
    await sleep(250);
    expect(gate.paused).toBe(true);
    expect(gate.stats().leaseExpiriesTotal).toBe(0);
    gate.unpause();
  });

  it('hold mode queues up to maxQueued, admits them on unpause, and rejects beyond the bound', async () => {
    const gate = createGate({ log, pausedBehaviour: { kind: 'hold', maxQueued: 2, maxHoldMs: 10_000 } });
    await gate.pause({ waitOutstanding: true });
    const held1 = gate.enter();
    const held2 = gate.enter();
    expect(await codeOf(gate.enter())).toBe('GATE_PAUSED'); // the third exceeds the queue
    expect(await stateAfter(held1, 30)).toBe('pending');
    gate.unpause();
    const [t1, t2] = [await held1, await held2];
    // Each ticket says how long it was held (the client-visible stall of hold mode); an open gate holds nothing.
    expect(t1.heldMs).toBeGreaterThanOrEqual(25);
    expect(t2.heldMs).toBeGreaterThanOrEqual(25);
    t1.release();
    t2.release();
    const open = await gate.enter();
    expect(open.heldMs).toBe(0);
    open.release();
    expect(gate.stats()).toMatchObject({ heldTotal: 2, rejectedTotal: 1, outstanding: 0 });
  });

  it('hold mode rejects a held request after maxHoldMs', async () => {
    const gate = createGate({ log, pausedBehaviour: { kind: 'hold', maxQueued: 5, maxHoldMs: 80 } });
    await gate.pause({ waitOutstanding: true });
    expect(await codeOf(gate.enter())).toBe('GATE_PAUSED');
    gate.unpause();
    expect(gate.stats().outstanding).toBe(0);
  });

  it('an aborted drain reopens the gate it closed', async () => {
    const gate = createGate({ log });
    const ticket = await gate.enter();
    const controller = new AbortController();
    const pause = gate.pause({ waitOutstanding: true, maxWaitMs: 10_000, signal: controller.signal });
    controller.abort();
    expect(await codeOf(pause)).toBe('PAUSE_CANCELLED');
    expect(gate.paused).toBe(false);
    ticket.release();
  });

  it('rejects a negative drain limit and a non-positive lease', () => {
    const gate = createGate({ log });
    expect(() => gate.pause({ waitOutstanding: true, maxWaitMs: -1 })).toThrow(/MAX_WAIT_INVALID/);
    expect(() => gate.pause({ waitOutstanding: true, leaseMs: 0 })).toThrow(/LEASE_INVALID/);
    expect(gate.paused).toBe(false);
  });
});
