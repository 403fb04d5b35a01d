/**
 * A misbehaving admin endpoint for the `admin-error` and `admin-silent` faults: a real gRPC server speaking
 * `rpc.Admin`, put in front of one node (its trial proxy redirects there, src/lab/trials/tcp-proxy.ts). Unpause,
 * CheckPaused and Stats are forwarded to the node unchanged; Pause misbehaves at the application level, so
 * the backup sees what a broken server really sends — a gRPC status, or a call that is accepted and never
 * answered — rather than a broken connection:
 *
 * - `error`: Pause is answered with an error status without reaching the node;
 * - `paused-then-error`: Pause is forwarded (the node closes its gate and arms its lease), then answered with
 *   an error, as a server whose drain "timed out" while staying paused;
 * - `silent`: Pause is accepted and never answered;
 * - `paused-then-silent`: Pause is forwarded (the node pauses) and its answer withheld.
 */
import * as grpc from '@grpc/grpc-js';
import { InternalError } from '../../errors.ts';
import { loadAdminProto } from '../../pause/admin-proto.ts';
import { LEASE_METADATA_KEY } from '../../pause/contract.ts';
import { adminError } from '../../pause/error-details.ts';

export type FaultyAdminBehaviour = 'error' | 'paused-then-error' | 'silent' | 'paused-then-silent';

export const ERROR_BEHAVIOURS: readonly FaultyAdminBehaviour[] = ['error', 'paused-then-error'];
export const SILENT_BEHAVIOURS: readonly FaultyAdminBehaviour[] = ['silent', 'paused-then-silent'];

export interface FaultyAdmin {
  readonly port: number;
  /** Pause calls received from the backup. */
  pauseCalls(): number;
  /** Pause calls forwarded to the node (each one closed its gate). */
  forwardedPauses(): number;
  /** Stops at once; calls held unanswered are cancelled. Idempotent. */
  close(): Promise<void>;
}

/** The error answered to Pause: the status and reason an upstream server sends for a failed drain. */
function pauseError(behaviour: FaultyAdminBehaviour): Partial<grpc.StatusObject> {
  return behaviour === 'paused-then-error'
    ? adminError(
        grpc.status.FAILED_PRECONDITION,
        'TIMED_OUT_STILL_PAUSED',
        'drain timed out; the server stays paused (injected)',
      )
    : { code: grpc.status.INTERNAL, details: 'pause failed (injected)' };
}

type Callback = (error: Partial<grpc.StatusObject> | null, value?: unknown) => void;
type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, value?: unknown) => void,
) => grpc.ClientUnaryCall;

/** Starts the endpoint in front of the admin server at `upstream` (`host:port`). */
export async function startFaultyAdmin(
  upstream: string,
  behaviour: FaultyAdminBehaviour,
): Promise<FaultyAdmin> {
  const { service, Client } = loadAdminProto();
  const client = new Client(upstream, grpc.credentials.createInsecure(), { 'grpc.enable_retries': 0 });
  const methods = client as unknown as Record<string, UnaryMethod>;
  let pauses = 0;
  let forwarded = 0;

  /** Forwards one call with the caller's lease and token (not its transport headers). */
  const forward = (method: string, request: unknown, incoming: grpc.Metadata, callback: Callback): void => {
    const metadata = new grpc.Metadata();
    for (const key of [LEASE_METADATA_KEY, 'authorization']) {
      const value = incoming.get(key)[0];
      if (value !== undefined) metadata.set(key, value.toString());
    }
    methods[method]!.call(client, request, metadata, { deadline: Date.now() + 30_000 }, (error, value) =>
      callback(error, value),
    );
  };

  const relay = (method: string) => (call: grpc.ServerUnaryCall<unknown, unknown>, callback: Callback) =>
    forward(method, call.request, call.metadata, callback);

  const server = new grpc.Server();
  server.addService(service, {
    Pause: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: Callback) => {
      pauses += 1;
      if (behaviour === 'error') {
        callback(pauseError(behaviour));
        return;
      }
      if (behaviour === 'silent') return;
      forward('Pause', call.request, call.metadata, (error) => {
        if (error === null) forwarded += 1;
        if (behaviour === 'paused-then-error') callback(pauseError(behaviour));
      });
    },
    Unpause: relay('Unpause'),
    CheckPaused: relay('CheckPaused'),
    Stats: relay('Stats'),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  if (port <= 0)
    throw new InternalError('FAULTY_ADMIN_NO_PORT', 'The faulty admin endpoint could not bind a port.');
  let closed = false;
  return {
    port,
    pauseCalls: () => pauses,
    forwardedPauses: () => forwarded,
    close() {
      if (!closed) {
        closed = true;
        server.forceShutdown();
        client.close();
      }
      return Promise.resolve();
    },
  };
}
