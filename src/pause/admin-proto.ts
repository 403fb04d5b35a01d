/**
 * Loads ./proto/admin.proto with @grpc/proto-loader and exposes the `rpc.Admin` service definition and
 * typed shapes of its messages as proto-loader delivers them (snake_case fields, int64 as Number).
 *
 * Presence of the proto3 `optional` field `max_pause_wait_time`: with `oneofs: true` proto-loader represents
 * it as a synthetic oneof `_max_pause_wait_time` whose value is the field's name when it was on the wire, and
 * with `defaults: true` the field itself reads as 0 either way — so presence is read from the oneof, never from
 * the value. See docs/decisions/0001-grpc-library.md.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The proto file, found next to this module at runtime (works from src with tsx). */
export const ADMIN_PROTO_PATH = fileURLToPath(new URL('./proto/admin.proto', import.meta.url));

/** Full gRPC service name, as on the wire (`/rpc.Admin/Pause`). */
export const ADMIN_SERVICE_NAME = 'rpc.Admin';

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** `PauseRequest` as decoded by proto-loader with {@link PROTO_LOADER_OPTIONS}. */
export interface PauseRequestMessage {
  wait_outstanding?: boolean;
  max_pause_wait_time?: number | string | null;
  /** Set to `'max_pause_wait_time'` when the optional field was present on the wire. */
  _max_pause_wait_time?: 'max_pause_wait_time';
}

export type EmptyMessage = Record<string, never>;

export interface CheckPausedResponseMessage {
  paused: boolean;
}

export interface StatsResponseMessage {
  stats: string;
}

/** The service definition (for `server.addService`) and a client constructor (for `new AdminClient(...)`). */
export interface AdminProto {
  readonly service: grpc.ServiceDefinition;
  readonly Client: grpc.ServiceClientConstructor;
}

let cached: AdminProto | undefined;

/** Loads and caches the admin proto (synchronous: it is read once per process). */
export function loadAdminProto(): AdminProto {
  if (cached) return cached;
  const definition = protoLoader.loadSync(ADMIN_PROTO_PATH, PROTO_LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    rpc: { Admin: grpc.ServiceClientConstructor };
  };
  cached = { service: pkg.rpc.Admin.service, Client: pkg.rpc.Admin };
  return cached;
}

/**
 * Reads `max_pause_wait_time` honouring its presence: `undefined` when the client omitted it.
 * int64 arrives as a Number (`longs: Number`); a string is accepted too, for other loader options.
 */
export function readMaxPauseWaitTime(request: PauseRequestMessage): number | undefined {
  if (request._max_pause_wait_time !== 'max_pause_wait_time') return undefined;
  const raw = request.max_pause_wait_time;
  if (raw === null || raw === undefined) return undefined;
  return typeof raw === 'number' ? raw : Number(raw);
}
