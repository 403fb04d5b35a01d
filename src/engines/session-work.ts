/**
 * The work a session has in flight, and its closing. Every engine session owns one: each step runs under a
 * signal that aborts when the caller's does OR when the session closes, and `close` aborts what runs and
 * waits for it (bounded) so that the children and connections a step opened are gone when close returns.
 * One mechanism for every engine, instead of a `closing` controller and a `running` set in each session.
 */
import { EngineError } from '../errors.ts';
import { graceful, linkSignals } from './settle.ts';

/** How long close waits for aborted work to settle before it leaves it (a query on a dead path never answers). */
export const CLOSE_GRACE_MS = 10_000;

export class SessionWork {
  private readonly closing = new AbortController();
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly engine: string) {}

  /** True once close has begun. */
  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** Aborts when close begins: for resources that must be dropped at once (streams, connections). */
  get closeSignal(): AbortSignal {
    return this.closing.signal;
  }

  /** The caller's signal linked with close. */
  signal(signal: AbortSignal): AbortSignal {
    return linkSignals(signal, this.closing.signal);
  }

  /** Throws `SESSION_CLOSED` when the session is closed (a step must not start after close). */
  throwIfClosed(): void {
    if (this.closed)
      throw new EngineError('SESSION_CLOSED', 'The session is closed.', { context: { engine: this.engine } });
  }

  /** Runs `step` under {@link signal} and tracks it, so close waits for it; rejects at once when closed. */
  run<T>(signal: AbortSignal, step: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(
        new EngineError('SESSION_CLOSED', 'The session is closed.', { context: { engine: this.engine } }),
      );
    return this.track(step(this.signal(signal)));
  }

  /** Tracks work started elsewhere (a background copy), so close waits for it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    const untrack = (): void => void this.running.delete(work);
    work.then(untrack, untrack);
    return work;
  }

  /**
   * Aborts every step and waits up to `graceMs` for them to settle. Returns false when close had already
   * begun (so a session's own close stays idempotent), true the first time.
   */
  async close(graceMs: number = CLOSE_GRACE_MS): Promise<boolean> {
    if (this.closed) return false;
    this.closing.abort();
    await graceful(Promise.allSettled([...this.running]), graceMs);
    return true;
  }
}
