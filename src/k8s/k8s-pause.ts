/**
 * Pausing Helm releases with the pod checks done for you — what seed 004 asks an operator to do by hand and
 * what scalar-admin-for-kubernetes does, plus the checks it lacks:
 * read every release (all pods must be Running and Ready) → pause every pod of every release by IP in one
 * all-or-nothing group (wait_outstanding) → hold the duration → CheckPaused and re-read the releases → always
 * unpause (the PausedGroup retries) → re-read again. Any change of pod names, phases, readiness, restart
 * counts, resourceVersions or a workload's resourceVersion makes the window invalid (a new or restarted pod
 * ran unpaused); the whole attempt is then retried, up to `retries` times, once every pod has settled.
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
  refName,
  rolloutRestartCommand,
  srvNameFor,
  targetsOf,
  totalRestarts,
} from './release.ts';

export interface K8sPauseOptions {
  readonly api: K8sApi;
  readonly pauseClient: PauseClient;
  /** What to pause, all in the same window (one or more releases, workloads or selections). */
  readonly releases: readonly ReleaseRef[];
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
  /** Before a retry, how long to wait for every pod to be Running and Ready again, ms. Default 120 000. */
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
  | {
      readonly type: 'paused';
      readonly attempt: number;
      readonly targets: readonly string[];
      readonly pausedAtMs: number;
    }
  | { readonly type: 'unpaused'; readonly attempt: number; readonly window: PauseWindow }
  | { readonly type: 'invalid'; readonly attempt: number; readonly changes: readonly string[] };

/** One paused release (or workload / selection) of a {@link K8sPauseResult}. */
export interface K8sReleaseResult {
  /** The release name, or `deployment/<name>`, `statefulset/<name>`, `selector <s>`. */
  readonly name: string;
  readonly namespace: string;
  readonly product?: ScalarProduct;
  readonly workload: string;
  readonly targets: readonly string[];
  readonly pods: readonly { readonly name: string; readonly ip: string; readonly restarts: number }[];
  /** What to give the upstream client (`scalar-admin -s`) for the same release (releases only). */
  readonly srvName?: string;
}

export interface K8sPauseResult {
  readonly window: PauseWindow;
  readonly timeZone: string;
  readonly attempts: number;
  /** Why earlier windows were invalid, one entry per invalid attempt. */
  readonly invalidAttempts: readonly { readonly attempt: number; readonly changes: readonly string[] }[];
  readonly releases: readonly K8sReleaseResult[];
}

type AttemptOutcome = {
  readonly window: PauseWindow;
  readonly changes: string[];
  readonly before: readonly ReleaseSnapshot[];
};

/** Runs the procedure. Throws PauseError `UNPAUSE_FAILED`, `PAUSE_FAILED`, `K8S_WINDOW_INVALID`, `K8S_POD_NOT_RUNNING`, …. */
export async function pauseRelease(options: K8sPauseOptions): Promise<K8sPauseResult> {
  const timeZone = options.timeZone ?? 'Etc/UTC';
  assertTimeZone(timeZone);
  if (options.releases.length === 0) {
    throw new ConfigError('K8S_SOURCE_INVALID', 'No release to pause.', {
      hint: 'Give -r <release> (repeatable), or a workload or selector.',
    });
  }
  const names = options.releases.map((r) => `${r.namespace}/${refName(r)}`).join(', ');
  const retries = options.retries ?? 2;
  const invalidAttempts: { attempt: number; changes: string[] }[] = [];
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) await waitUntilSettled(options);
    const outcome = await attemptOnce(options, attempt);
    if (outcome.changes.length === 0) return resultOf(options, outcome, timeZone, attempt, invalidAttempts);
    invalidAttempts.push({ attempt, changes: outcome.changes });
    options.onEvent?.({ type: 'invalid', attempt, changes: outcome.changes });
    if (attempt > retries) {
      throw new PauseError(
        'K8S_WINDOW_INVALID',
        `The pause window of ${names} was invalid ${attempt} time(s); last: ${outcome.changes.join('; ')}.`,
        {
          context: { clusters: names, attempts: attempt, invalidAttempts },
          hint: 'Pods restarted, were added or changed during the window (a new or restarted pod runs unpaused). Check the release (kubectl get pods) and run again, or raise --retries.',
        },
      );
    }
  }
}

async function readAll(options: K8sPauseOptions, refs: readonly ReleaseRef[]): Promise<ReleaseSnapshot[]> {
  return Promise.all(refs.map((ref) => readRelease(options.api, ref, options.signal)));
}

async function attemptOnce(options: K8sPauseOptions, attempt: number): Promise<AttemptOutcome> {
  const before = await readAll(options, options.releases);
  for (const snapshot of before) assertAllRunning(snapshot);
  const targets = before.flatMap(targetsOf);
  // One group for every release: all-or-nothing, one window (as the plan's clusters are paused).
  const group = await options.pauseClient.pauseAll(targets, {
    waitOutstanding: true,
    ...(options.maxPauseWaitMs !== undefined ? { maxPauseWaitMs: options.maxPauseWaitMs } : {}),
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  options.onEvent?.({
    type: 'paused',
    attempt,
    targets: targets.map((t) => t.label),
    pausedAtMs: group.pausedAtMs,
  });
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
  if (!unpause.ok) throw unpauseFailed(before, unpause, failure);
  if (failure !== undefined) throw asStillpointError(failure);
  changes.push(...(await changesSince(options, before)).filter((c) => !changes.includes(c)));
  return { window: unpause.window, changes, before };
}

// Inside the window: hold, then confirm every target still paused and the releases unchanged.
async function holdAndCheck(
  options: K8sPauseOptions,
  group: PausedGroup,
  before: readonly ReleaseSnapshot[],
  targets: readonly Target[],
): Promise<string[]> {
  await sleep(options.pauseDurationMs ?? 5_000, options.signal);
  const check = await group.checkPaused();
  const changes = check.targets
    .filter((t) => !t.ok || t.paused !== true)
    .map((t) => `${t.target} is not paused`);
  if (check.targets.length !== targets.length) changes.push('CheckPaused did not answer for every target');
  changes.push(...(await changesSince(options, before)));
  return changes;
}

async function changesSince(options: K8sPauseOptions, before: readonly ReleaseSnapshot[]): Promise<string[]> {
  const prefix = (s: ReleaseSnapshot, text: string): string =>
    before.length > 1 ? `${s.name}: ${text}` : text;
  const changes = await Promise.all(
    before.map(async (snapshot, i) => {
      const ref = options.releases[i]!;
      try {
        const after = await readRelease(
          options.api,
          { ...ref, ...(snapshot.product ? { product: snapshot.product } : {}) },
          options.signal,
        );
        return describeChanges(snapshot, after).map((c) => prefix(snapshot, c));
      } catch (error) {
        // Not being able to read the release back means the membership cannot be confirmed: invalid, not fatal.
        return [prefix(snapshot, `could not read the release back: ${asStillpointError(error).message}`)];
      }
    }),
  );
  return changes.flat();
}

function unpauseFailed(
  before: readonly ReleaseSnapshot[],
  unpause: UnpauseResult,
  failure: unknown,
): PauseError {
  const bad = unpause.targets.filter((t) => !t.ok).map((t) => t.target);
  const affected = before.filter((s) => targetsOf(s).some((t) => bad.includes(t.label)));
  const restarts = affected.map(rolloutRestartCommand);
  return new PauseError(
    'UNPAUSE_FAILED',
    `Unpause failed for ${bad.join(', ')} of ${affected.map((s) => `"${s.name}"`).join(', ')}; those pods may still be paused.`,
    {
      context: {
        clusters: affected.map((s) => s.name),
        targets: unpause.targets,
        window: unpause.window,
        restart: restarts,
      },
      hint: `Unpause them now: stillpoint unpause -a ${bad.join(',')} (or scalar-admin -c unpause); if they stay unreachable, restart them (they start unpaused): ${restarts.join(' && ')}`,
      ...(failure !== undefined ? { cause: failure } : {}),
    },
  );
}

// A retry after a restart or a scale-up must wait for every pod to be Running and Ready, or it would be refused at once.
async function waitUntilSettled(options: K8sPauseOptions): Promise<void> {
  const deadline = Date.now() + (options.settleTimeoutMs ?? 120_000);
  for (;;) {
    try {
      for (const snapshot of await readAll(options, options.releases)) assertAllRunning(snapshot);
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
  return {
    window: outcome.window,
    timeZone,
    attempts,
    invalidAttempts,
    releases: outcome.before.map((snapshot) => {
      const srvName = srvNameFor(snapshot, options.clusterDomain);
      return {
        name: snapshot.name,
        namespace: snapshot.namespace,
        ...(snapshot.product ? { product: snapshot.product } : {}),
        workload: `${snapshot.workload.kind}/${snapshot.workload.name}`,
        targets: targetsOf(snapshot).map((t) => t.label),
        pods: snapshot.pods.map((p) => ({ name: p.name, ip: p.podIp ?? '', restarts: totalRestarts(p) })),
        ...(srvName ? { srvName } : {}),
      };
    }),
  };
}

/**
 * The one JSON line of upstream's wrapper (same field names), plus the mid-time and our extras. With one
 * release the per-release fields are also at the top level, as upstream prints them; `releases` lists each.
 */
export function wrapperJson(result: K8sPauseResult): Record<string, unknown> {
  const { window, timeZone } = result;
  const releases = result.releases.map((r) => ({
    namespace: r.namespace,
    helm_release_name: r.name,
    ...(r.product ? { product: r.product } : {}),
    workload: r.workload,
    targets: r.targets,
    pods: r.pods,
    ...(r.srvName ? { srv_name: r.srvName } : {}),
  }));
  const only = releases.length === 1 ? releases[0] : undefined;
  return {
    ...(only ? { namespace: only.namespace, helm_release_name: only.helm_release_name } : {}),
    pause_start_timestamp_ms: window.pausedAtMs,
    pause_end_timestamp_ms: window.unpauseStartedAtMs,
    pause_start_date_time: localDateTime(window.pausedAtMs, timeZone),
    pause_end_date_time: localDateTime(window.unpauseStartedAtMs, timeZone),
    timezone: timeZone,
    pause_mid_timestamp_ms: window.midMs,
    pause_mid_date_time: localDateTime(window.midMs, timeZone),
    attempts: result.attempts,
    invalid_attempts: result.invalidAttempts,
    ...(only ? { ...only } : {}),
    releases,
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
  return new PauseError('K8S_PAUSE_CANCELLED', 'The Kubernetes pause was cancelled.', {
    cause: signal.reason,
  });
}
