/**
 * Pauses a set of admin targets at once, all-or-nothing (see {@link PauseClient} in ./contract.ts).
 * Fixes the upstream client: every call has a deadline; a failed pause unpauses the targets that paused and
 * reports failure; the window is measured (paused-at after the last Pause returned, unpause-started-at before
 * the first Unpause is sent); an optional lease is renewed while the group is held.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { PauseError } from '../errors.ts';
import { type CheckPausedResponseMessage, type PauseRequestMessage, loadAdminProto } from './admin-proto.ts';
import {
  type AdminConnectionOptions,
  DEFAULT_MAX_PAUSE_WAIT_MS,
  LEASE_METADATA_KEY,
  type PauseClient,
  type PausedGroup,
  type PauseOptions,
  type PauseWindow,
  type Target,
  type TargetStatus,
  type UnpauseResult,
} from './contract.ts';
import { readErrorReason } from './error-details.ts';

/** Deadline of Unpause / CheckPaused calls, and the margin added to the drain limit for Pause. */
const BASE_DEADLINE_MS = 10_000;
/** Attempts per target for Pause (retryable statuses only) and Unpause. */
const MAX_ATTEMPTS = 3;
/** First backoff; doubled per attempt, with full jitter so many clients do not retry in lock-step. */
const BACKOFF_BASE_MS = 100;

type Method = 'Pause' | 'Unpause' | 'CheckPaused' | 'Stats';
type Callback<Res> = (error: grpc.ServiceError | null, response?: Res) => void;
type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: Callback<unknown>,
) => grpc.ClientUnaryCall;

interface CallFailure {
  readonly code: string;
  readonly message: string;
  readonly grpcCode?: grpc.status;
  readonly reason?: string;
}

interface CallResult<Res> {
  readonly value?: Res;
  readonly failure?: CallFailure;
  readonly attempts: number;
  readonly elapsedMs: number;
}

/** Creates a client. Its gRPC channels are cached per target; `close()` closes them. */
export function createPauseClient(options: AdminConnectionOptions = {}): PauseClient {
  return new PauseClientImpl(options);
}

class PauseClientImpl implements PauseClient {
  private readonly clients = new Map<string, grpc.Client>();
  /** Groups whose lease is being renewed; closing the client stops their renewals. */
  readonly renewing = new Set<Group>();

  constructor(private readonly options: AdminConnectionOptions) {}

  async pauseAll(targets: readonly Target[], options: PauseOptions = {}): Promise<PausedGroup> {
    const request: PauseRequestMessage = { wait_outstanding: options.waitOutstanding ?? true };
    // Sent only when given: an absent field means the server default (proto3 optional presence).
    if (options.maxPauseWaitMs !== undefined) request.max_pause_wait_time = options.maxPauseWaitMs;
    // A Pause may legitimately take the whole drain before it answers; the call deadline comes on top.
    const deadlineMs =
      (options.maxPauseWaitMs || DEFAULT_MAX_PAUSE_WAIT_MS) +
      (this.options.callDeadlineMs ?? BASE_DEADLINE_MS);
    const results = await Promise.all(
      targets.map((target) =>
        this.call<object>(target, 'Pause', request, {
          deadlineMs,
          leaseMs: options.leaseMs,
          signal: options.signal,
          retryable: isRetryablePauseFailure,
        }),
      ),
    );
    const pausedAtMs = Date.now();
    const statuses = targets.map((target, i) => pauseStatus(target, results[i]!));
    if (statuses.every((s) => s.ok)) {
      return new Group(this, targets, pausedAtMs, statuses, options.leaseMs);
    }
    throw await this.rollBack(targets, statuses);
  }

  /** Unpauses every target after a failed pause and builds the PAUSE_FAILED error. */
  private async rollBack(targets: readonly Target[], statuses: TargetStatus[]): Promise<PauseError> {
    // Every target, not only those that answered OK: a Pause that failed by deadline may still close the gate
    // later on an upstream server, and Unpause is idempotent.
    const rollback = await this.unpauseAll(targets);
    const merged = statuses.map((s, i) => {
      const undone = rollback.targets[i]!;
      return { ...s, paused: undone.ok ? false : s.paused };
    });
    const failed = merged.filter((s) => !s.ok).map((s) => `${s.target} (${s.error?.code ?? 'FAILED'})`);
    // A target neither call could reach, or one that refused our token (it checks the token before touching
    // its gate), was never paused by us; any other failed rollback may have left one paused.
    const stillPaused = rollback.targets
      .filter(
        (s, i) => !s.ok && !neverPaused(statuses[i]!) && !(neverReached(statuses[i]!) && neverReached(s)),
      )
      .map((s) => s.target);
    const refused = statuses.filter((s) => s.error?.code === 'UNAUTHENTICATED').map((s) => s.target);
    const tokenHint =
      refused.length === 0
        ? ''
        : `${refused.join(', ')} refused the token: give the right one with --token-file <file> or STILLPOINT_TOKEN (or --token, visible in ps). `;
    const unreachable = statuses.filter(neverReached).map((s) => s.target);
    const reachHint =
      unreachable.length === 0
        ? ''
        : `${unreachable.join(', ')} could not be reached: is the node running and listening there? Check with: stillpoint check-paused -a ${unreachable.join(',')}. `;
    return new PauseError(
      'PAUSE_FAILED',
      `Pause failed at ${failed.join(', ')}; ` +
        (stillPaused.length === 0
          ? refused.length === statuses.filter((s) => !s.ok).length && refused.length > 0
            ? `${refused.join(', ')} refused the call and ${refused.length === 1 ? 'was' : 'were'} never paused; every other target was unpaused again.`
            : 'every target was unpaused again.'
          : `the rollback could not unpause ${stillPaused.join(', ')}.`),
      {
        context: { targets: merged, rollback: rollback.targets },
        hint:
          reachHint +
          tokenHint +
          (stillPaused.length === 0
            ? 'Fix the failing target (see each status) and retry.'
            : `Unpause by hand: stillpoint unpause -a ${stillPaused.join(',')}`),
      },
    );
  }

  async unpauseAll(
    targets: readonly Target[],
  ): Promise<{ readonly ok: boolean; readonly targets: readonly TargetStatus[] }> {
    const results = await Promise.all(
      targets.map((target) =>
        this.call<object>(
          target,
          'Unpause',
          {},
          {
            deadlineMs: this.options.callDeadlineMs ?? BASE_DEADLINE_MS,
            // Unpause is idempotent and a server left paused is an outage: retry any failure that may be transient.
            retryable: isTransient,
          },
        ),
      ),
    );
    const statuses = targets.map((target, i) => {
      const r = results[i]!;
      return toStatus(target, r, r.failure ? undefined : false);
    });
    return { ok: statuses.every((s) => s.ok), targets: statuses };
  }

  async checkPausedAll(targets: readonly Target[], leaseMs?: number): Promise<readonly TargetStatus[]> {
    const results = await Promise.all(
      targets.map((target) =>
        this.call<CheckPausedResponseMessage>(
          target,
          'CheckPaused',
          {},
          {
            deadlineMs: this.options.callDeadlineMs ?? BASE_DEADLINE_MS,
            leaseMs,
            retryable: () => false,
          },
        ),
      ),
    );
    return targets.map((target, i) => {
      const r = results[i]!;
      return toStatus(target, r, r.value?.paused);
    });
  }

  async leaseSupportAll(
    targets: readonly Target[],
  ): Promise<readonly { readonly target: string; readonly lease: boolean | undefined }[]> {
    const deadlineMs = this.options.callDeadlineMs ?? BASE_DEADLINE_MS;
    const results = await Promise.all(
      targets.map((t) => this.call<object>(t, 'Stats', {}, { deadlineMs, retryable: () => false })),
    );
    return targets.map((t, i) => {
      const failure = results[i]!.failure;
      const lease = failure === undefined ? true : failure.code === 'UNIMPLEMENTED' ? false : undefined;
      return { target: t.label, lease };
    });
  }

  close(): void {
    for (const group of this.renewing) group.stopRenewal();
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  /** One logical call with retries; never throws. */
  private async call<Res>(
    target: Target,
    method: Method,
    request: unknown,
    how: {
      deadlineMs: number;
      leaseMs?: number | undefined;
      signal?: AbortSignal | undefined;
      retryable: (f: CallFailure) => boolean;
    },
  ): Promise<CallResult<Res>> {
    const started = Date.now();
    let failure: CallFailure | undefined;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (attempt > 1) await sleep(Math.random() * BACKOFF_BASE_MS * 2 ** (attempt - 1));
      try {
        const value = await this.callOnce<Res>(
          target,
          method,
          request,
          how.deadlineMs,
          how.leaseMs,
          how.signal,
        );
        return { value, attempts: attempt, elapsedMs: Date.now() - started };
      } catch (error) {
        failure = classify(error as grpc.ServiceError);
        if (!how.retryable(failure) || how.signal?.aborted) {
          return { failure, attempts: attempt, elapsedMs: Date.now() - started };
        }
      }
    }
    return { failure, attempts: MAX_ATTEMPTS, elapsedMs: Date.now() - started };
  }

  private callOnce<Res>(
    target: Target,
    method: Method,
    request: unknown,
    deadlineMs: number,
    leaseMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Res> {
    const client = this.clientFor(target) as unknown as Record<Method, UnaryMethod>;
    const metadata = new grpc.Metadata();
    if (this.options.token !== undefined) metadata.set('authorization', `Bearer ${this.options.token}`);
    if (leaseMs !== undefined) metadata.set(LEASE_METADATA_KEY, String(Math.round(leaseMs)));
    return new Promise<Res>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortedFailure());
        return;
      }
      const onAbort = (): void => call.cancel();
      const call = client[method].call(
        client,
        request,
        metadata,
        { deadline: Date.now() + deadlineMs },
        (error, value) => {
          signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve(value as Res);
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private clientFor(target: Target): grpc.Client {
    let client = this.clients.get(target.label);
    if (!client) {
      const { Client } = loadAdminProto();
      const tls = this.options.tls;
      const credentials = tls
        ? grpc.credentials.createSsl(tls.caPem === undefined ? null : Buffer.from(tls.caPem))
        : grpc.credentials.createInsecure();
      const channelOptions: grpc.ChannelOptions = {
        // Retries are ours (explicit statuses, per call), not the channel's.
        'grpc.enable_retries': 0,
        ...(tls?.overrideAuthority === undefined
          ? {}
          : {
              'grpc.ssl_target_name_override': tls.overrideAuthority,
              'grpc.default_authority': tls.overrideAuthority,
            }),
      };
      client = new Client(target.label, credentials, channelOptions);
      this.clients.set(target.label, client);
    }
    return client;
  }
}

class Group implements PausedGroup {
  private renewal: NodeJS.Timeout | undefined;
  private renewing = false;
  private unpaused: Promise<UnpauseResult> | undefined;

  constructor(
    private readonly client: PauseClientImpl,
    readonly targets: readonly Target[],
    readonly pausedAtMs: number,
    readonly statuses: readonly TargetStatus[],
    private readonly leaseMs: number | undefined,
  ) {
    if (leaseMs !== undefined) {
      // Three renewals per lease: one lost or slow renewal does not let the lease lapse.
      this.renewal = setInterval(() => this.renew(), Math.max(1, Math.floor(leaseMs / 3)));
      this.renewal.unref();
      client.renewing.add(this);
    }
  }

  /** Stops renewing the lease (the servers then unpause by themselves when it lapses). */
  stopRenewal(): void {
    if (this.renewal !== undefined) clearInterval(this.renewal);
    this.renewal = undefined;
    this.client.renewing.delete(this);
  }

  private renew(): void {
    if (this.renewing) return;
    this.renewing = true;
    void this.client.checkPausedAll(this.targets, this.leaseMs).finally(() => {
      this.renewing = false;
    });
  }

  async checkPaused(): Promise<{ readonly allPaused: boolean; readonly targets: readonly TargetStatus[] }> {
    const targets = await this.client.checkPausedAll(this.targets, this.leaseMs);
    return { allPaused: targets.every((t) => t.ok && t.paused === true), targets };
  }

  unpause(): Promise<UnpauseResult> {
    this.unpaused ??= this.unpauseOnce();
    return this.unpaused;
  }

  private async unpauseOnce(): Promise<UnpauseResult> {
    this.stopRenewal();
    const unpauseStartedAtMs = Date.now();
    const window: PauseWindow = {
      pausedAtMs: this.pausedAtMs,
      unpauseStartedAtMs,
      midMs: Math.floor((this.pausedAtMs + unpauseStartedAtMs) / 2),
    };
    try {
      const result = await this.client.unpauseAll(this.targets);
      return { ok: result.ok, window, targets: result.targets };
    } catch (error) {
      // unpauseAll settles every branch; this is only a guard so unpause() keeps its never-throws promise.
      const message = error instanceof Error ? error.message : String(error);
      const targets = this.targets.map((t) => ({
        target: t.label,
        ok: false,
        attempts: 0,
        elapsedMs: 0,
        error: { code: 'INTERNAL', message },
      }));
      return { ok: false, window, targets };
    }
  }
}

/** Pause is idempotent, so resending after these is safe. */
function isRetryablePauseFailure(failure: CallFailure): boolean {
  // UNAVAILABLE: the connection could not be made or broke; the server may come back within the backoff.
  if (failure.grpcCode === grpc.status.UNAVAILABLE) return true;
  // ABORTED PAUSE_IN_PROGRESS: newer upstream servers reject a concurrent pause and ask the client to retry.
  return failure.grpcCode === grpc.status.ABORTED && failure.reason === 'PAUSE_IN_PROGRESS';
}

const TRANSIENT = new Set<grpc.status>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
]);

function isTransient(failure: CallFailure): boolean {
  return failure.grpcCode !== undefined && TRANSIENT.has(failure.grpcCode);
}

function neverReached(status: TargetStatus): boolean {
  return status.error?.code === 'TARGET_UNREACHABLE';
}

/** The Pause was refused before the gate was touched: a stillpoint server checks the token first. */
function neverPaused(status: TargetStatus): boolean {
  return status.error?.code === 'UNAUTHENTICATED';
}

function pauseStatus(target: Target, result: CallResult<unknown>): TargetStatus {
  const stillPaused = result.failure?.code === 'PAUSE_TIMED_OUT_STILL_PAUSED';
  return toStatus(target, result, result.failure ? (stillPaused ? true : undefined) : true);
}

function toStatus(target: Target, result: CallResult<unknown>, paused: boolean | undefined): TargetStatus {
  return {
    target: target.label,
    ok: result.failure === undefined,
    ...(paused === undefined ? {} : { paused }),
    attempts: result.attempts,
    elapsedMs: result.elapsedMs,
    ...(result.failure ? { error: { code: result.failure.code, message: result.failure.message } } : {}),
  };
}

/** Stable codes for gRPC failures (TargetStatus.error.code). */
function classify(error: Partial<grpc.ServiceError>): CallFailure {
  const grpcCode = error.code;
  const reason = readErrorReason(error);
  const message = error.details || error.message || 'unknown error';
  const base = { message, ...(grpcCode === undefined ? {} : { grpcCode }), ...(reason ? { reason } : {}) };
  switch (grpcCode) {
    case grpc.status.UNAVAILABLE:
      return { ...base, code: 'TARGET_UNREACHABLE' };
    case grpc.status.DEADLINE_EXCEEDED:
      return { ...base, code: 'DEADLINE_EXCEEDED' };
    case grpc.status.UNAUTHENTICATED:
      return { ...base, code: 'UNAUTHENTICATED' };
    case grpc.status.INVALID_ARGUMENT:
      return { ...base, code: 'INVALID_ARGUMENT' };
    case grpc.status.UNIMPLEMENTED:
      return { ...base, code: 'UNIMPLEMENTED' };
    case grpc.status.CANCELLED:
      return { ...base, code: 'CANCELLED' };
    case grpc.status.FAILED_PRECONDITION:
      // Old servers send no reason for a drain timeout: FAILED_PRECONDITION alone means TIMED_OUT.
      return {
        ...base,
        code: reason === 'TIMED_OUT_STILL_PAUSED' ? 'PAUSE_TIMED_OUT_STILL_PAUSED' : 'PAUSE_TIMED_OUT',
      };
    case grpc.status.ABORTED:
      return { ...base, code: reason === 'PAUSE_IN_PROGRESS' ? 'PAUSE_IN_PROGRESS' : 'PAUSE_INTERRUPTED' };
    default:
      return { ...base, code: grpcCode === undefined ? 'CALL_FAILED' : `GRPC_${grpc.status[grpcCode]}` };
  }
}

function abortedFailure(): Error {
  return Object.assign(new Error('aborted by the caller'), {
    code: grpc.status.CANCELLED,
    details: 'aborted by the caller',
  });
}
