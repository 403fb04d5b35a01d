/**
 * The bank workload: concurrent transfers between an account in `bank_a` and one in `bank_b` (either
 * direction), spread over one or more nodes. It records every ACKNOWLEDGED transfer id so a trial can later
 * prove that nothing acknowledged was lost (`checkGroup(..., { acknowledged })`).
 *
 * Retries, each for a reason:
 * - UNAVAILABLE (the node is paused and rejects new work, is down, or its database is restarting —
 *   STORAGE_CONNECTION_LOST, retriable): like ScalarDB clients, 10 attempts
 *   with 100 ms doubling backoff — but each wait is capped at 1 s. Upstream's uncapped doubling waits
 *   0.1+0.2+…+25.6 s, so a client that met a 5 s pause would idle up to ~6 s after the unpause; with the cap
 *   the 10 attempts still span ≥ 7.5 s (a 5 s pause is survived) and work resumes within 1 s of the unpause.
 *   A paused node (it answered, with its gate's code) is retried in place and the wait counts as paused time;
 *   an unreachable node (transport UNAVAILABLE: killed, restarting) is failed over to the next target.
 * - ABORTED (TX_CONFLICT after the node's own retries): a fresh transaction may succeed; short jittered backoff.
 * - DEADLINE_EXCEEDED / INTERNAL / transport errors: the outcome is unknown, so the SAME transfer id is sent
 *   again (to the next target); the node's Transfer is idempotent by transfer id, so a repeat cannot apply it
 *   twice, whichever node it reaches.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { BankCallError, createBankClient, type BankClient, type BankClientOptions } from './bank-client.ts';

export interface BankWorkloadOptions {
  /** Node addresses (`host:port`); worker i uses targets[i % n]. */
  readonly targets: readonly string[];
  /** Number of accounts (ids 0..accounts-1; even in bank_a, odd in bank_b). At least 2. */
  readonly accounts: number;
  /** Concurrent clients. Default 4. */
  readonly concurrency?: number;
  /** Stop issuing new transfers after this long. */
  readonly durationMs?: number;
  /** Stop after this many transfers were attempted. At least one of durationMs/transfers is required. */
  readonly transfers?: number;
  /** Stops issuing new transfers (in-flight ones finish, so their outcome is known). */
  readonly signal?: AbortSignal;
  /** Called about once a second. */
  readonly onProgress?: (progress: BankProgress) => void;
  /** Attempts on UNAVAILABLE before a transfer fails. Default 10. */
  readonly unavailableAttempts?: number;
  /** Deadline per call in ms. Default 10 000. */
  readonly callDeadlineMs?: number;
  /** TLS towards the nodes. Absent: plaintext. */
  readonly tls?: BankClientOptions['tls'];
  /** Bearer token for nodes that require one. */
  readonly token?: string;
}

export interface BankProgress {
  readonly elapsedMs: number;
  readonly committed: number;
  readonly failed: number;
  readonly retries: number;
}

export interface BankReport {
  readonly committed: number;
  /** Transfers that were already applied when retried after an unknown outcome (counted in committed). */
  readonly duplicates: number;
  readonly failed: number;
  readonly retries: number;
  readonly retriesByReason: {
    readonly unavailable: number;
    readonly conflict: number;
    readonly unknown: number;
  };
  /** Committed transfers per second. */
  readonly throughput: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
    readonly max: number;
  };
  /** Total time (summed over clients) spent waiting to retry UNAVAILABLE, i.e. waiting on a paused node. */
  readonly pausedWaitMs: number;
  /** The longest single transfer's wait on UNAVAILABLE. */
  readonly pausedWaitMaxMs: number;
  /**
   * The pause as the client feels it: per transfer that met a paused node, the time it spent blocked (held
   * by a hold-mode gate, as the node reports) or retrying (a reject-mode gate's UNAVAILABLE, backoff
   * included). Percentiles over those transfers only; `transfers` is how many met a pause.
   */
  readonly pauseStallMs: StallSummary;
  /** Error codes of failed transfers, with counts. */
  readonly errors: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
  /** Every transfer id the nodes acknowledged as committed. */
  readonly acknowledged: readonly string[];
}

export interface StallSummary {
  readonly transfers: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

const UNAVAILABLE_BASE_MS = 100;
const UNAVAILABLE_CAP_MS = 1_000;
const CONFLICT_ATTEMPTS = 10;
const UNKNOWN_ATTEMPTS = 5;

interface Tally {
  committed: number;
  duplicates: number;
  failed: number;
  retries: { unavailable: number; conflict: number; unknown: number };
  pausedWaitMs: number;
  pausedWaitMaxMs: number;
  errors: Record<string, number>;
  latencies: number[];
  stalls: number[];
  acknowledged: string[];
  issued: number;
}

/** Runs the workload until the duration, the transfer count or the signal ends it. Never throws for a failed transfer. */
export async function runBankWorkload(options: BankWorkloadOptions): Promise<BankReport> {
  if (options.targets.length === 0)
    throw new BankCallError(
      grpc.status.INVALID_ARGUMENT,
      'WORKLOAD_NO_TARGETS',
      'the workload needs at least one node address',
      '',
      undefined,
    );
  const clientOptions: BankClientOptions = {
    ...(options.callDeadlineMs === undefined ? {} : { deadlineMs: options.callDeadlineMs }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.token === undefined ? {} : { token: options.token }),
  };
  const clients = options.targets.map((t) => createBankClient(t, clientOptions));
  const tally: Tally = {
    committed: 0,
    duplicates: 0,
    failed: 0,
    retries: { unavailable: 0, conflict: 0, unknown: 0 },
    pausedWaitMs: 0,
    pausedWaitMaxMs: 0,
    errors: {},
    latencies: [],
    stalls: [],
    acknowledged: [],
    issued: 0,
  };
  const started = Date.now();
  const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;
  const more = (): boolean =>
    !(options.signal?.aborted ?? false) &&
    Date.now() < deadline &&
    (options.transfers === undefined || tally.issued < options.transfers);
  const progress = options.onProgress
    ? setInterval(
        () =>
          options.onProgress?.({
            elapsedMs: Date.now() - started,
            committed: tally.committed,
            failed: tally.failed,
            retries: sumRetries(tally),
          }),
        1_000,
      )
    : undefined;
  const runId = randomBytes(4).toString('hex');
  try {
    const concurrency = Math.max(1, options.concurrency ?? 4);
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        for (let seq = 0; more(); seq += 1) {
          tally.issued += 1;
          await oneTransfer(
            clients,
            worker,
            pickTransfer(`${runId}-${worker}-${seq}`, options.accounts),
            tally,
            options.unavailableAttempts ?? 10,
          );
        }
      }),
    );
  } finally {
    if (progress) clearInterval(progress);
    for (const c of clients) c.close();
  }
  return report(tally, Date.now() - started);
}

function pickTransfer(
  transferId: string,
  accounts: number,
): { transferId: string; from: number; to: number; amount: number } {
  const evens = Math.ceil(accounts / 2);
  const odds = Math.floor(accounts / 2);
  const a = 2 * Math.floor(Math.random() * evens);
  const b = 2 * Math.floor(Math.random() * Math.max(1, odds)) + 1;
  const amount = 1 + Math.floor(Math.random() * 100);
  return Math.random() < 0.5
    ? { transferId, from: a, to: b, amount }
    : { transferId, from: b, to: a, amount };
}

async function oneTransfer(
  clients: readonly BankClient[],
  preferred: number,
  request: { transferId: string; from: number; to: number; amount: number },
  tally: Tally,
  unavailableAttempts: number,
): Promise<void> {
  const started = Date.now();
  const attempts = { unavailable: 0, conflict: 0, unknown: 0 };
  let target = preferred;
  let waited = 0;
  let held = 0;
  for (;;) {
    const attemptStart = Date.now();
    try {
      const response = await (clients[target % clients.length] as BankClient).transfer(request);
      if (!response.applied) tally.duplicates += 1;
      held = response.held_ms ?? 0;
      tally.committed += 1;
      tally.acknowledged.push(request.transferId);
      tally.latencies.push(Date.now() - started);
      break;
    } catch (error) {
      const decision = retryDecision(error, attempts, unavailableAttempts);
      if (decision === undefined) {
        const code = error instanceof BankCallError ? error.remoteCode : 'UNKNOWN';
        tally.failed += 1;
        tally.errors[code] = (tally.errors[code] ?? 0) + 1;
        break;
      }
      tally.retries[decision.reason] += 1;
      await sleep(decision.delayMs);
      if (decision.paused) waited += Date.now() - attemptStart;
      if (decision.failover) target += 1;
    }
  }
  tally.pausedWaitMs += waited;
  tally.pausedWaitMaxMs = Math.max(tally.pausedWaitMaxMs, waited);
  if (waited + held > 0) tally.stalls.push(waited + held);
}

interface RetryDecision {
  readonly reason: 'unavailable' | 'conflict' | 'unknown';
  readonly delayMs: number;
  /** The node answered that it is paused: the wait counts as time spent on a pause. */
  readonly paused: boolean;
  /** Try the next target: this one is unreachable or its outcome unknown. */
  readonly failover: boolean;
}

/** Whether (and how) to retry after `error`; `undefined` = give up. Mutates the attempt counters. */
function retryDecision(
  error: unknown,
  attempts: { unavailable: number; conflict: number; unknown: number },
  unavailableAttempts: number,
): RetryDecision | undefined {
  const status = error instanceof BankCallError ? error.status : grpc.status.UNKNOWN;
  if (status === grpc.status.UNAVAILABLE) {
    if (++attempts.unavailable >= unavailableAttempts) return undefined;
    // A node that answered carries its gate's code; a bare transport UNAVAILABLE means nobody answered. A node
    // whose database is restarting (STORAGE_CONNECTION_LOST: nothing committed) is neither paused nor gone:
    // it reconnects on its own, so the same node is asked again after the same backoff.
    const code = error instanceof BankCallError ? error.remoteCode : 'GRPC_UNAVAILABLE';
    const lost = code === 'STORAGE_CONNECTION_LOST';
    const paused = code !== 'GRPC_UNAVAILABLE' && !lost;
    const delayMs = jitter(
      Math.min(UNAVAILABLE_CAP_MS, UNAVAILABLE_BASE_MS * 2 ** (attempts.unavailable - 1)),
    );
    return { reason: 'unavailable', delayMs, paused, failover: !paused && !lost };
  }
  if (status === grpc.status.ABORTED) {
    if (++attempts.conflict >= CONFLICT_ATTEMPTS) return undefined;
    return { reason: 'conflict', delayMs: jitter(10 * attempts.conflict), paused: false, failover: false };
  }
  if (UNKNOWN_OUTCOME.has(status)) {
    if (++attempts.unknown >= UNKNOWN_ATTEMPTS) return undefined;
    return { reason: 'unknown', delayMs: jitter(100 * attempts.unknown), paused: false, failover: true };
  }
  return undefined;
}

/** Statuses after which the transfer may or may not have committed. */
const UNKNOWN_OUTCOME = new Set([
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.CANCELLED,
]);

/** The value at percentile `p` of `values` (nearest rank); 0 for none. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted.length === 0
    ? 0
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);
}

/** The largest of `values` (0 for none); no spread: a long run has more values than a call takes arguments. */
function largest(values: readonly number[]): number {
  return values.reduce((m, v) => (v > m ? v : m), 0);
}

function report(t: Tally, elapsedMs: number): BankReport {
  const pct = (p: number): number => percentile(t.latencies, p);
  return {
    committed: t.committed,
    duplicates: t.duplicates,
    failed: t.failed,
    retries: sumRetries(t),
    retriesByReason: { ...t.retries },
    throughput: elapsedMs > 0 ? (t.committed * 1000) / elapsedMs : 0,
    latencyMs: { p50: pct(50), p95: pct(95), p99: pct(99), max: largest(t.latencies) },
    pausedWaitMs: t.pausedWaitMs,
    pausedWaitMaxMs: t.pausedWaitMaxMs,
    pauseStallMs: {
      transfers: t.stalls.length,
      p50: percentile(t.stalls, 50),
      p99: percentile(t.stalls, 99),
      max: largest(t.stalls),
    },
    errors: { ...t.errors },
    elapsedMs,
    acknowledged: t.acknowledged,
  };
}

function sumRetries(t: Tally): number {
  return t.retries.unavailable + t.retries.conflict + t.retries.unknown;
}

/** ±25 % jitter so clients released by one unpause do not retry in lockstep. */
function jitter(ms: number): number {
  return ms * (0.75 + Math.random() * 0.5);
}
