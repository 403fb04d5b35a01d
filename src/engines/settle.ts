/**
 * Small waiting helpers for engine sessions (product code: no lab imports). Every wait has a deadline and
 * follows an AbortSignal; sleeping uses node:timers/promises, so an aborted wait leaves no timer behind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../errors.ts';

/** Waits for `work`, or `ms` at most (then leaves it running): for polite closes that must not hang. */
export async function graceful(work: Promise<unknown>, ms: number): Promise<void> {
  const timer = new AbortController();
  await Promise.race([
    work.catch(() => undefined),
    sleep(ms, undefined, { signal: timer.signal }).catch(() => undefined),
  ]);
  timer.abort();
}

export interface PollOptions {
  readonly timeoutMs: number;
  /** Pause between checks; default 200 ms. */
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
  readonly engine: string;
  /** What is awaited, for the error message ("the restored server to accept connections"). */
  readonly what: string;
}

/**
 * Calls `check` until it returns true. EngineError `ABORTED` when the signal aborts, `WAIT_TIMEOUT` past
 * the deadline. A check that throws counts as false (a server still starting refuses connections).
 */
export async function pollUntil(check: () => Promise<boolean>, options: PollOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.signal?.aborted)
      throw new EngineError('ABORTED', `Waiting for ${options.what} was aborted.`, {
        context: { engine: options.engine },
      });
    if (await check().catch(() => false)) return;
    if (Date.now() >= deadline) {
      throw new EngineError(
        'WAIT_TIMEOUT',
        `Gave up waiting for ${options.what} after ${options.timeoutMs} ms.`,
        { context: { engine: options.engine } },
      );
    }
    await sleep(options.intervalMs ?? 200, undefined, options.signal ? { signal: options.signal } : {}).catch(
      () => undefined,
    );
  }
}

/** Rejects with EngineError `ABORTED` when `signal` has aborted (engines check this between steps). */
export function throwIfAborted(signal: AbortSignal, engine: string, what: string): void {
  if (signal.aborted)
    throw new EngineError('ABORTED', `${what} was aborted.`, { context: { engine }, cause: signal.reason });
}

/** Runs synchronous `work` so that a throw becomes a rejected promise (session methods never throw synchronously). */
export function settleSync<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => resolve(work()));
}

/**
 * A signal that aborts when any of `signals` does. Unlike `AbortSignal.any`, it listens on each source, which
 * keeps an `AbortSignal.timeout` source alive until it fires (Node holds `any`'s sources weakly, so a
 * timeout signal nobody else references can be collected and never abort the composite).
 */
export function linkSignals(...signals: readonly AbortSignal[]): AbortSignal {
  const controller = new AbortController();
  const aborted = signals.find((s) => s.aborted);
  if (aborted) {
    controller.abort(aborted.reason);
    return controller.signal;
  }
  const onAbort = (event: Event): void => {
    for (const s of signals) s.removeEventListener('abort', onAbort);
    controller.abort((event.target as AbortSignal).reason);
  };
  for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
  return controller.signal;
}
