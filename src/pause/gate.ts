/**
 * The gate keeper: counts in-flight work and can be closed and drained (see ./contract.ts and
 * shared/reference/pause-protocol.md). Fixes the upstream races:
 * - a ticket is released exactly once, even when completion and error race;
 * - pauses are serialised by waiting (never rejected): each runs after the previous one settled;
 * - a pause that times out reopens the gate only if it closed it itself — a gate another pause closed stays
 *   closed (`PAUSE_TIMED_OUT_STILL_PAUSED`);
 * - an unpause interrupts a drain in progress and every pause queued before it (`PAUSE_INTERRUPTED`): a pause
 *   never reports success with the gate open, and a pause issued before an unpause never closes the gate after it.
 */
import { checkDurationMs } from '../duration.ts';
import { ConfigError, PauseError } from '../errors.ts';
import {
  DEFAULT_MAX_PAUSE_WAIT_MS,
  type Gate,
  type GatePauseOptions,
  type GateStats,
  type GateTicket,
  type PausedBehaviour,
} from './contract.ts';

/** A structured log sink: a message and its fields. */
export type PauseLog = (message: string, fields?: Record<string, unknown>) => void;

/** Default log: one line on stderr (the gate logs only state changes, rare by nature). */
export const stderrLog: PauseLog = (message, fields) => {
  process.stderr.write(`stillpoint gate: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
};

export interface GateOptions {
  /** What new work meets while the gate is closed. Default `{ kind: 'reject' }`. */
  readonly pausedBehaviour?: PausedBehaviour;
  /** Where state changes (pause, unpause, lease expiry, timeouts) are logged. Default: stderr. */
  readonly log?: PauseLog;
  /** Clock for the counters (epoch ms). Default `Date.now`. Timers always use real time. */
  readonly now?: () => number;
}

type DrainOutcome = 'drained' | 'timeout' | 'interrupted' | 'aborted';

interface HeldEntry {
  admit(): void;
  reject(error: PauseError): void;
}

interface Counters {
  admittedTotal: number;
  rejectedTotal: number;
  heldTotal: number;
  pausesTotal: number;
  pauseTimeoutsTotal: number;
  leaseExpiriesTotal: number;
}

/** Creates a gate, open. See {@link Gate}. */
export function createGate(options: GateOptions = {}): Gate {
  return new GateImpl(options);
}

class GateImpl implements Gate {
  private readonly behaviour: PausedBehaviour;
  private readonly log: PauseLog;
  private readonly now: () => number;
  private outstanding = 0;
  private closed = false;
  private pausedSinceMs: number | null = null;
  private lastDrainMs: number | null = null;
  /** Bumped by every unpause; a pause compares it to detect an unpause since it arrived. */
  private unpauseCount = 0;
  private readonly drainWaiters = new Set<() => void>();
  private readonly held: HeldEntry[] = [];
  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseMs: number | undefined;
  /** Tail of the pause queue: each pause waits for the previous one to settle. */
  private pauseChain: Promise<void> = Promise.resolve();
  private pausesInProgress = 0;
  private readonly counters: Counters = {
    admittedTotal: 0,
    rejectedTotal: 0,
    heldTotal: 0,
    pausesTotal: 0,
    pauseTimeoutsTotal: 0,
    leaseExpiriesTotal: 0,
  };

  constructor(options: GateOptions) {
    this.behaviour = options.pausedBehaviour ?? { kind: 'reject' };
    this.log = options.log ?? stderrLog;
    this.now = options.now ?? Date.now;
  }

  get paused(): boolean {
    return this.closed;
  }

  enter(): Promise<GateTicket> {
    if (!this.closed) return Promise.resolve(this.admit(0));
    if (this.behaviour.kind === 'reject') {
      this.counters.rejectedTotal++;
      return Promise.reject(pausedError('reject'));
    }
    return this.hold(this.behaviour.maxQueued, this.behaviour.maxHoldMs);
  }

  private admit(heldMs: number): GateTicket {
    this.outstanding++;
    this.counters.admittedTotal++;
    let released = false;
    return {
      heldMs,
      release: () => {
        // Upstream decremented twice when completion and error raced; the flag makes release idempotent.
        if (released) return;
        released = true;
        this.outstanding--;
        if (this.outstanding === 0) this.wakeDrainWaiters();
      },
    };
  }

  private hold(maxQueued: number, maxHoldMs: number): Promise<GateTicket> {
    if (this.held.length >= maxQueued) {
      this.counters.rejectedTotal++;
      return Promise.reject(pausedError('queue-full', { maxQueued }));
    }
    this.counters.heldTotal++;
    const heldSince = performance.now();
    return new Promise<GateTicket>((resolve, reject) => {
      const entry: HeldEntry = {
        admit: () => {
          clearTimeout(timer);
          resolve(this.admit(Math.round(performance.now() - heldSince)));
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        const index = this.held.indexOf(entry);
        if (index >= 0) this.held.splice(index, 1);
        this.counters.rejectedTotal++;
        reject(pausedError('hold-timeout', { maxHoldMs }));
      }, maxHoldMs);
      this.held.push(entry);
    });
  }

  pause(options: GatePauseOptions): Promise<void> {
    const maxWaitMs = resolveMaxWait(options.maxWaitMs);
    if (options.leaseMs !== undefined) validateLease(options.leaseMs);
    const arrivedAtUnpause = this.unpauseCount;
    const start = (): Promise<void> => this.pauseNow(options, maxWaitMs, arrivedAtUnpause);
    // With no pause in progress the gate closes synchronously, as upstream's does; otherwise this pause queues.
    const run = this.pausesInProgress === 0 ? start() : this.pauseChain.then(start);
    this.pausesInProgress++;
    // The queue continues whatever this pause's outcome.
    this.pauseChain = run.then(
      () => void this.pausesInProgress--,
      () => void this.pausesInProgress--,
    );
    return run;
  }

  private async pauseNow(
    options: GatePauseOptions,
    maxWaitMs: number,
    arrivedAtUnpause: number,
  ): Promise<void> {
    if (this.unpauseCount !== arrivedAtUnpause) {
      throw interrupted('an unpause arrived while this pause waited for an earlier one');
    }
    if (options.signal?.aborted) throw cancelled();
    const closedByThisPause = !this.closed;
    if (closedByThisPause) {
      this.closed = true;
      this.pausedSinceMs = this.now();
      this.log('gate closed', { outstanding: this.outstanding, waitOutstanding: options.waitOutstanding });
    }
    const myUnpause = this.unpauseCount;
    if (options.waitOutstanding) {
      const started = this.now();
      const outcome = await this.waitDrained(maxWaitMs, myUnpause, options.signal);
      if (outcome !== 'drained') this.failDrain(outcome, closedByThisPause, maxWaitMs);
      this.lastDrainMs = this.now() - started;
    }
    this.counters.pausesTotal++;
    this.setLease(options.leaseMs);
  }

  /** Ends a drain that did not reach 0: reopen only a gate this pause closed, then throw. */
  private failDrain(
    outcome: Exclude<DrainOutcome, 'drained'>,
    closedByThisPause: boolean,
    maxWaitMs: number,
  ): never {
    if (outcome === 'interrupted') throw interrupted('the gate was unpaused while this pause drained');
    if (outcome === 'timeout') this.counters.pauseTimeoutsTotal++;
    const context = { outstanding: this.outstanding, maxWaitMs };
    if (!closedByThisPause) {
      this.log('pause gave up; the gate stays closed by an earlier pause', { outcome, ...context });
      throw new PauseError(
        'PAUSE_TIMED_OUT_STILL_PAUSED',
        `Outstanding work did not drain (${outcome}); the gate stays closed because an earlier pause closed it.`,
        { context, hint: 'Unpause the server, or retry the pause once long-running transactions finish.' },
      );
    }
    this.openGate(outcome === 'timeout' ? 'drain timed out' : 'pause cancelled by its caller');
    if (outcome === 'aborted') throw cancelled();
    throw new PauseError(
      'PAUSE_TIMED_OUT',
      `${this.outstanding} unit(s) of work still in flight after ${maxWaitMs} ms; the gate was reopened.`,
      { context, hint: 'Retry later, or raise max_pause_wait_time if long transactions are expected.' },
    );
  }

  private waitDrained(maxWaitMs: number, myUnpause: number, signal?: AbortSignal): Promise<DrainOutcome> {
    return new Promise<DrainOutcome>((resolve) => {
      const finish = (outcome: DrainOutcome): void => {
        clearTimeout(timer);
        this.drainWaiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const check = (): void => {
        if (this.unpauseCount !== myUnpause) finish('interrupted');
        else if (this.outstanding === 0) finish('drained');
      };
      const onAbort = (): void => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), maxWaitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.drainWaiters.add(check);
      check();
    });
  }

  private wakeDrainWaiters(): void {
    for (const check of [...this.drainWaiters]) check();
  }

  unpause(reason = 'unpause requested'): void {
    // Counted even when already open: pauses queued before this unpause must not close the gate after it.
    this.unpauseCount++;
    this.openGate(reason);
  }

  private openGate(reason: string): void {
    this.clearLease();
    const wasClosed = this.closed;
    this.closed = false;
    this.pausedSinceMs = null;
    this.wakeDrainWaiters();
    for (const entry of this.held.splice(0)) entry.admit();
    if (wasClosed) this.log('gate opened', { reason, outstanding: this.outstanding });
  }

  renewLease(leaseMs: number): void {
    validateLease(leaseMs);
    // Only an armed lease is renewed: a CheckPaused with a lease must not put a time limit on a pause that
    // was taken without one (upstream semantics, paused until Unpause).
    if (this.closed && this.leaseTimer !== undefined) this.setLease(leaseMs);
  }

  private setLease(leaseMs: number | undefined): void {
    this.clearLease();
    if (leaseMs === undefined) return;
    this.leaseMs = leaseMs;
    this.leaseTimer = setTimeout(() => {
      this.leaseTimer = undefined;
      this.counters.leaseExpiriesTotal++;
      this.log('pause lease expired without renewal; unpausing by itself', { leaseMs });
      this.unpause(`lease of ${leaseMs} ms expired`);
    }, leaseMs);
    // A lease must not keep a process alive that is otherwise done.
    this.leaseTimer.unref();
  }

  private clearLease(): void {
    if (this.leaseTimer !== undefined) clearTimeout(this.leaseTimer);
    this.leaseTimer = undefined;
    this.leaseMs = undefined;
  }

  stats(): GateStats & { readonly leaseMs: number | null; readonly held: number } {
    return {
      outstanding: this.outstanding,
      paused: this.closed,
      pausedSinceMs: this.pausedSinceMs,
      lastDrainMs: this.lastDrainMs,
      ...this.counters,
      leaseMs: this.leaseMs ?? null,
      held: this.held.length,
    };
  }
}

function resolveMaxWait(maxWaitMs: number | undefined): number {
  if (maxWaitMs === undefined || maxWaitMs === 0) return DEFAULT_MAX_PAUSE_WAIT_MS;
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
    throw new ConfigError(
      'MAX_WAIT_INVALID',
      `The drain limit must be a positive number of ms, got ${maxWaitMs}.`,
      {
        hint: 'Omit it (or send 0) for the default of 30 000 ms.',
      },
    );
  }
  // Bounded: a Node timer above 2^31-1 ms fires at once.
  return checkDurationMs(maxWaitMs, 'the drain limit (max pause wait)');
}

function validateLease(leaseMs: number): void {
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) {
    throw new ConfigError('LEASE_INVALID', `A pause lease must be a positive number of ms, got ${leaseMs}.`, {
      hint: 'Send no lease for a pause that lasts until Unpause.',
    });
  }
  // Bounded: a lease of 9e9 ms would overflow the timer and unpause after 1 ms.
  checkDurationMs(leaseMs, 'a pause lease');
}

function pausedError(
  reason: 'reject' | 'queue-full' | 'hold-timeout',
  context: Record<string, unknown> = {},
): PauseError {
  return new PauseError('GATE_PAUSED', 'The server is paused and does not admit new work now.', {
    context: { reason, ...context },
    hint: 'Retry after the pause ends (pauses last seconds).',
  });
}

function interrupted(message: string): PauseError {
  return new PauseError('PAUSE_INTERRUPTED', `${message}; the pause did not take effect.`, {
    hint: 'Another client unpaused this server; retry the pause if it is still wanted.',
  });
}

function cancelled(): PauseError {
  return new PauseError(
    'PAUSE_CANCELLED',
    'The pause was cancelled by its caller before the drain finished.',
  );
}
