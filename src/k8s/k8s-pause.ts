/**
 * Pausing a Helm release with the pod checks done for you — what seed 004 asks an operator to do by hand and
 * what scalar-admin-for-kubernetes does, plus the checks it lacks:
 * read the release (all pods must be Running) → pause every pod by IP (wait_outstanding) → hold the duration →
 * CheckPaused and re-read the release → always unpause (the PausedGroup retries) → re-read again. Any change of
 * pod names, phases, restart counts, resourceVersions or the workload's resourceVersion makes the window
 * invalid (a new or restarted pod ran unpaused); the whole attempt is then retried, up to `retries` times.
 * Errors are ranked: an unpause failure is reported before anything else.
 */
import { ConfigError, PauseError, asStillpointError } from '../errors.ts';
import type { PauseClient, PauseWindow, PausedGroup, Target, UnpauseResult } from '../pause/contract.ts';
import type { K8sApi } from './k8s-api.ts';
import {
  type ReleaseRef,
  type ReleaseSnapshot,
  type ScalarProduct,
  assertAllRunning,
  describeChanges,
  readRelease,
  srvNameFor,
  targetsOf,
  totalRestarts,
} from './release.ts';

export interface K8sPauseOptions extends ReleaseRef {
  readonly api: K8sApi;
  readonly pauseClient: PauseClient;
  /** How long to hold the pause, ms. Default 5 000 (upstream default). */
  readonly pauseDurationMs?: number;
  /** Drain limit sent as max_pause_wait_time. Default: the server's (30 000). */
  readonly maxPauseWaitMs?: number;
  /** Pause lease in ms (stillpoint servers only; upstream servers ignore it). Default: none. */
  readonly leaseMs?: number;
  /** IANA zone for the date-times in the result. Default `Etc/UTC`. */
  readonly timeZone?: string;
  /** Attempts after an invalid window. Default 2 (so at most 3 windows). */
  readonly retries?: number;
  /** Before a retry, how long to wait for every pod to be Running again, ms. Default 120 000. */
  readonly settleTimeoutMs?: number;
  /** Poll interval while settling, ms. Default 1 000. */
  readonly pollIntervalMs?: number;
  /** Cluster DNS domain for the SRV names in the result. Default `cluster.local`. */
  readonly clusterDomain?: string;
  readonly signal?: AbortSignal;
  /** Progress (tests use `paused` to script changes inside the window). */
  readonly onEvent?: (event: K8sPauseEvent) => void;
}

export type K8sPauseEvent =
  | { readonly type: 'paused'; readonly attempt: number; readonly targets: readonly string[]; readonly pausedAtMs: number }
  | { readonly type: 'unpaused'; readonly attempt: number; readonly window: PauseWindow }
  | { readonly type: 'invalid'; readonly attempt: number; readonly changes: readonly string[] };

export interface K8sPauseResult {
  readonly release: string;
  readonly namespace: string;
  readonly product: ScalarProduct;
  readonly window: PauseWindow;
  readonly timeZone: string;
  readonly attempts: number;
  /** Why earlier windows were invalid, one entry per invalid attempt. */
  readonly invalidAttempts: readonly { readonly attempt: number; readonly changes: readonly string[] }[];
  readonly targets: readonly string[];
  readonly pods: readonly { readonly name: string; readonly ip: string; readonly restarts: number }[];
  /** What to give the upstream client (`scalar-admin -s`) for the same release. */
  readonly srvName: string;
}

type AttemptOutcome = { readonly window: PauseWindow; readonly changes: string[]; readonly before: ReleaseSnapshot };

/** Runs the procedure. Throws PauseError `UNPAUSE_FAILED`, `PAUSE_FAILED`, `K8S_WINDOW_INVALID`, `K8S_POD_NOT_RUNNING`, …. */
export async function pauseRelease(options: K8sPauseOptions): Promise<K8sPauseResult> {
  const timeZone = options.timeZone ?? 'Etc/UTC';
  assertTimeZone(timeZone);
  const retries = options.retries ?? 2;
  const invalidAttempts: { attempt: number; changes: string[] }[] = [];
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) await waitUntilRunning(options);
    const outcome = await attemptOnce(options, attempt);
    if (outcome.changes.length === 0) return resultOf(options, outcome, timeZone, attempt, invalidAttempts);
    invalidAttempts.push({ attempt, changes: outcome.changes });
    options.onEvent?.({ type: 'invalid', attempt, changes: outcome.changes });
    if (attempt > retries) {
      throw new PauseError(
        'K8S_WINDOW_INVALID',
        `The pause window of release "${options.release}" was invalid ${attempt} time(s); last: ${outcome.changes.join('; ')}.`,
        {
          context: { cluster: options.release, namespace: options.namespace, attempts: attempt, invalidAttempts },
          hint: 'Pods restarted, were added or changed during the window (a new or restarted pod runs unpaused). Check the release (kubectl get pods) and run again, or raise --retries.',
        },
      );
    }
  }
}

async function attemptOnce(options: K8sPauseOptions, attempt: number): Promise<AttemptOutcome> {
  const before = await readRelease(options.api, options, options.signal);
  assertAllRunning(before);
  const targets = targetsOf(before);
  const group = await options.pauseClient.pauseAll(targets, {
    waitOutstanding: true,
    ...(options.maxPauseWaitMs !== undefined ? { maxPauseWaitMs: options.maxPauseWaitMs } : {}),
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  options.onEvent?.({ type: 'paused', attempt, targets: targets.map((t) => t.label), pausedAtMs: group.pausedAtMs });
  const changes: string[] = [];
  let failure: unknown;
  let unpause: UnpauseResult;
  try {
    changes.push(...(await holdAndCheck(options, group, before, targets)));
  } catch (error) {
    failure = error;
  } finally {
    unpause = await group.unpause();
  }
  options.onEvent?.({ type: 'unpaused', attempt, window: unpause.window });
  if (!unpause.ok) throw unpauseFailed(options, unpause, failure);
  if (failure !== undefined) throw asStillpointError(failure);
  changes.push(...(await changesSince(options, before)).filter((c) => !changes.includes(c)));
  return { window: unpause.window, changes, before };
}

// Inside the window: hold, then confirm every target still paused and the release unchanged.
async function holdAndCheck(
  options: K8sPauseOptions,
  group: PausedGroup,
  before: ReleaseSnapshot,
  targets: readonly Target[],
): Promise<string[]> {
  await sleep(options.pauseDurationMs ?? 5_000, options.signal);
  const check = await group.checkPaused();
  const changes = check.targets.filter((t) => !t.ok || t.paused !== true).map((t) => `${t.target} is not paused`);
  if (check.targets.length !== targets.length) changes.push('CheckPaused did not answer for every target');
  changes.push(...(await changesSince(options, before)));
  return changes;
}

async function changesSince(options: K8sPauseOptions, before: ReleaseSnapshot): Promise<string[]> {
  try {
    return describeChanges(before, await readRelease(options.api, { ...options, product: before.product }, options.signal));
  } catch (error) {
    // Not being able to read the release back means the membership cannot be confirmed: invalid, not fatal.
    return [`could not read the release back: ${asStillpointError(error).message}`];
  }
}

function unpauseFailed(options: K8sPauseOptions, unpause: UnpauseResult, failure: unknown): PauseError {
  const bad = unpause.targets.filter((t) => !t.ok);
  return new PauseError(
    'UNPAUSE_FAILED',
    `Unpause failed for ${bad.map((t) => t.target).join(', ')} of release "${options.release}"; those pods may still be paused.`,
    {
      context: { cluster: options.release, namespace: options.namespace, targets: unpause.targets, window: unpause.window },
      hint: `Unpause them now: stillpoint unpause -a ${bad.map((t) => t.target).join(',')} (or scalar-admin -c unpause).`,
      ...(failure !== undefined ? { cause: failure } : {}),
    },
  );
}

// A retry after a restart must wait for the restarted pod to be Running again, or it would be refused at once.
async function waitUntilRunning(options: K8sPauseOptions): Promise<void> {
  const deadline = Date.now() + (options.settleTimeoutMs ?? 120_000);
  for (;;) {
    try {
      assertAllRunning(await readRelease(options.api, options, options.signal));
      return;
    } catch (error) {
      if (asStillpointError(error).code !== 'K8S_POD_NOT_RUNNING' || Date.now() >= deadline) throw error;
    }
    await sleep(options.pollIntervalMs ?? 1_000, options.signal);
  }
}

function resultOf(
  options: K8sPauseOptions,
  outcome: AttemptOutcome,
  timeZone: string,
  attempts: number,
  invalidAttempts: K8sPauseResult['invalidAttempts'],
): K8sPauseResult {
  const { before } = outcome;
  return {
    release: before.release,
    namespace: before.namespace,
    product: before.product,
    window: outcome.window,
    timeZone,
    attempts,
    invalidAttempts,
    targets: targetsOf(before).map((t) => t.label),
    pods: before.pods.map((p) => ({ name: p.name, ip: p.podIp ?? '', restarts: totalRestarts(p) })),
    srvName: srvNameFor(before, options.clusterDomain),
  };
}

/** The one JSON line of upstream's wrapper (same field names), plus the mid-time and our extras. */
export function wrapperJson(result: K8sPauseResult): Record<string, unknown> {
  const { window, timeZone } = result;
  return {
    namespace: result.namespace,
    helm_release_name: result.release,
    pause_start_timestamp_ms: window.pausedAtMs,
    pause_end_timestamp_ms: window.unpauseStartedAtMs,
    pause_start_date_time: localDateTime(window.pausedAtMs, timeZone),
    pause_end_date_time: localDateTime(window.unpauseStartedAtMs, timeZone),
    timezone: timeZone,
    pause_mid_timestamp_ms: window.midMs,
    pause_mid_date_time: localDateTime(window.midMs, timeZone),
    product: result.product,
    attempts: result.attempts,
    invalid_attempts: result.invalidAttempts,
    targets: result.targets,
    pods: result.pods,
    srv_name: result.srvName,
  };
}

/** `YYYY-MM-DDTHH:mm:ss.SSS` wall-clock time in `timeZone` (no offset, like Java's LocalDateTime). */
export function localDateTime(epochMs: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    fractionalSecondDigits: 3,
  }).formatToParts(new Date(epochMs));
  const get = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}:${get('second')}.${get('fractionalSecond')}`;
}

/** Throws ConfigError `TIME_ZONE_INVALID` for a zone Intl does not know. */
export function assertTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch (error) {
    throw new ConfigError('TIME_ZONE_INVALID', `Unknown time zone "${timeZone}".`, {
      hint: 'Use an IANA zone name such as Etc/UTC, Asia/Tokyo or Europe/Berlin.',
      cause: error,
    });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelled(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function cancelled(signal: AbortSignal): PauseError {
  return new PauseError('K8S_PAUSE_CANCELLED', 'The Kubernetes pause was cancelled.', { cause: signal.reason });
}
