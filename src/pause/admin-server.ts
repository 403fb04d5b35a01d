/**
 * The admin gRPC service (`rpc.Admin`: Pause, Unpause, CheckPaused, legacy Stats) over a {@link Gate},
 * wire-compatible with scalar-admin. Additions, all optional and invisible to upstream clients:
 * - a pause lease in metadata `stillpoint-lease-ms` (Pause arms it, CheckPaused with it renews it);
 * - a bearer token (`authorization: Bearer <token>`): calls without it get UNAUTHENTICATED and are logged;
 * - error reasons as `google.rpc.ErrorInfo` (TIMED_OUT, TIMED_OUT_STILL_PAUSED → FAILED_PRECONDITION;
 *   GATE_OPEN → ABORTED when an unpause interrupted the drain);
 * - a caller that cancels its Pause (deadline, disconnect) ends the drain: the gate is reopened if that pause
 *   closed it, so a client that gave up never leaves the server paused (upstream servers do not notice).
 *
 * Concurrent pauses are serialised by waiting (the gate queues them), never rejected with PAUSE_IN_PROGRESS:
 * a second pause simply returns once the first has settled and the gate is closed and drained.
 */
import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { MAX_DURATION_MS } from '../duration.ts';
import { ConfigError, PauseError } from '../errors.ts';
import {
  type CheckPausedResponseMessage,
  type EmptyMessage,
  type PauseRequestMessage,
  type StatsResponseMessage,
  loadAdminProto,
  readMaxPauseWaitTime,
} from './admin-proto.ts';
import { DEFAULT_MAX_PAUSE_WAIT_MS, type Gate, LEASE_METADATA_KEY } from './contract.ts';
import { adminError } from './error-details.ts';
import { type PauseLog, stderrLog } from './gate.ts';
import { checkListenerSecurity } from './listener-security.ts';

export interface AdminServiceOptions {
  /** When set, every admin call must carry `authorization: Bearer <token>`. Default: no token. */
  readonly token?: string;
  /** Where refused calls and admin actions are logged. Default: stderr. */
  readonly log?: PauseLog;
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

/** Adds `rpc.Admin` over `gate` to a server that may also serve other (gated) services. */
export function addAdminService(server: grpc.Server, gate: Gate, options: AdminServiceOptions = {}): void {
  const log = options.log ?? stderrLog;
  const authorised = makeAuthorizer(options.token, log);

  const pause: Unary<PauseRequestMessage, EmptyMessage> = (call, callback) => {
    if (!authorised(call, callback, 'Pause')) return;
    const parsed = parsePauseCall(call);
    if ('error' in parsed) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: parsed.error });
      return;
    }
    // Aborted when the caller cancels or its deadline passes: the gate then gives the drain up.
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    gate.pause({ ...parsed.options, signal: controller.signal }).then(
      () => {
        log('paused by admin call', { peer: call.getPeer(), ...parsed.options });
        callback(null, {});
      },
      (error: unknown) => callback(toGrpcError(error)),
    );
  };

  const unpause: Unary<EmptyMessage, EmptyMessage> = (call, callback) => {
    if (!authorised(call, callback, 'Unpause')) return;
    gate.unpause(`Unpause from ${call.getPeer()}`);
    callback(null, {});
  };

  const checkPaused: Unary<EmptyMessage, CheckPausedResponseMessage> = (call, callback) => {
    if (!authorised(call, callback, 'CheckPaused')) return;
    const lease = readLease(call.metadata);
    if (typeof lease === 'string') {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: lease });
      return;
    }
    if (lease !== undefined) gate.renewLease(lease);
    callback(null, { paused: gate.paused });
  };

  const stats: Unary<EmptyMessage, StatsResponseMessage> = (call, callback) => {
    if (!authorised(call, callback, 'Stats')) return;
    callback(null, { stats: JSON.stringify(gate.stats()) });
  };

  server.addService(loadAdminProto().service, {
    Pause: pause,
    Unpause: unpause,
    CheckPaused: checkPaused,
    Stats: stats,
  });
}

function parsePauseCall(
  call: grpc.ServerUnaryCall<PauseRequestMessage, EmptyMessage>,
): { options: { waitOutstanding: boolean; maxWaitMs: number; leaseMs?: number } } | { error: string } {
  const maxWait = readMaxPauseWaitTime(call.request);
  if (maxWait !== undefined && !(maxWait >= 0 && maxWait <= MAX_DURATION_MS && Number.isFinite(maxWait))) {
    return {
      error: `[DURATION_OUT_OF_RANGE] max_pause_wait_time must be 0 (the default) to ${MAX_DURATION_MS} ms (24h), got ${maxWait}.`,
    };
  }
  const lease = readLease(call.metadata);
  if (typeof lease === 'string') return { error: lease };
  return {
    options: {
      waitOutstanding: call.request.wait_outstanding === true,
      // Absent or 0 means the server default (upstream semantics).
      maxWaitMs: maxWait === undefined || maxWait === 0 ? DEFAULT_MAX_PAUSE_WAIT_MS : maxWait,
      ...(lease === undefined ? {} : { leaseMs: lease }),
    },
  };
}

/** The lease in ms from metadata; undefined when absent; a string describing the problem when malformed. */
function readLease(metadata: grpc.Metadata): number | undefined | string {
  const raw = metadata.get(LEASE_METADATA_KEY)[0];
  if (raw === undefined) return undefined;
  const text = raw.toString();
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    return `${LEASE_METADATA_KEY} must be a positive integer of milliseconds (got "${text}").`;
  }
  // A Node timer above 2^31-1 ms fires at once: an unbounded lease would unpause immediately.
  if (value > MAX_DURATION_MS)
    return `[DURATION_OUT_OF_RANGE] ${LEASE_METADATA_KEY} must be at most ${MAX_DURATION_MS} ms (24h), got ${value}.`;
  return value;
}

/**
 * A check of `authorization: Bearer <token>` for unary handlers (admin and data services alike): true when
 * allowed; otherwise answers UNAUTHENTICATED, logs the refusal and returns false.
 */
export function makeAuthorizer(token: string | undefined, log: PauseLog) {
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  return (
    call: grpc.ServerUnaryCall<unknown, unknown>,
    callback: (error: Partial<grpc.StatusObject>) => void,
    method: string,
  ): boolean => {
    if (expected === undefined) return true;
    const given = call.metadata.get('authorization')[0];
    const actual = Buffer.from(given === undefined ? '' : given.toString());
    // Constant-time compare so the token cannot be guessed byte by byte from response times.
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) return true;
    log('refused a call without a valid token', {
      method,
      peer: call.getPeer(),
      tokenSent: given !== undefined,
    });
    callback({
      code: grpc.status.UNAUTHENTICATED,
      details: 'A valid token is required (authorization: Bearer).',
    });
    return false;
  };
}

/** Maps gate errors to gRPC statuses with upstream reasons. */
function toGrpcError(error: unknown): Partial<grpc.StatusObject> {
  if (error instanceof PauseError) {
    switch (error.code) {
      case 'PAUSE_TIMED_OUT':
        return adminError(grpc.status.FAILED_PRECONDITION, 'TIMED_OUT', error.message);
      case 'PAUSE_TIMED_OUT_STILL_PAUSED':
        return adminError(grpc.status.FAILED_PRECONDITION, 'TIMED_OUT_STILL_PAUSED', error.message);
      case 'PAUSE_INTERRUPTED':
        return adminError(grpc.status.ABORTED, 'GATE_OPEN', error.message);
      case 'PAUSE_CANCELLED':
        return { code: grpc.status.CANCELLED, details: error.message };
    }
  }
  if (error instanceof ConfigError) return { code: grpc.status.INVALID_ARGUMENT, details: error.message };
  return { code: grpc.status.INTERNAL, details: error instanceof Error ? error.message : String(error) };
}

export interface AdminServerOptions extends AdminServiceOptions {
  readonly gate: Gate;
  /** Interface to listen on. Default `127.0.0.1` (loopback: exposing it is a deliberate choice). */
  readonly host?: string;
  /** Port; 0 (default) picks a free one. */
  readonly port?: number;
  /** TLS: PEM certificate chain and key. Absent: plaintext. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  /** Allow a non-loopback host without token and TLS (warned about). Default false: refused. */
  readonly insecure?: boolean;
}

export interface RunningAdminServer {
  readonly port: number;
  /** `host:port` (or `[v6]:port`) to give clients. */
  readonly address: string;
  readonly server: grpc.Server;
  /** Graceful shutdown, forced after 2 s. */
  close(): Promise<void>;
}

/** Starts a gRPC server that serves only the admin service over `gate`. */
export async function startAdminServer(options: AdminServerOptions): Promise<RunningAdminServer> {
  const host = options.host ?? '127.0.0.1';
  checkListenerSecurity(
    {
      host,
      token: options.token !== undefined,
      tls: options.tls !== undefined,
      insecure: options.insecure === true,
    },
    options.log ?? stderrLog,
  );
  const server = new grpc.Server();
  addAdminService(server, options.gate, options);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(null, [
        { cert_chain: Buffer.from(options.tls.certPem), private_key: Buffer.from(options.tls.keyPem) },
      ])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${hostPart}:${options.port ?? 0}`, credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  return { port, address: `${hostPart}:${port}`, server, close: () => closeServer(server) };
}

/** Graceful shutdown of a grpc.Server, forced after `graceMs` (default 2 000). */
export function closeServer(server: grpc.Server, graceMs = 2_000): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
