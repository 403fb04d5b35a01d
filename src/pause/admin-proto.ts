/**
 * The `rpc.Admin` service of ./proto/admin.proto (the reference, as upstream publishes it) as a gRPC service
 * definition, with its four small messages encoded by hand (../proto-wire.ts) in the shapes @grpc/proto-loader
 * used to deliver (snake_case fields, int64 as Number, defaults filled in). Parsing the .proto text with
 * protobufjs at run time cost more than the whole rest of `scalar-admin -c CHECK_PAUSED` (issue 17).
 *
 * Presence of the proto3 `optional` field `max_pause_wait_time`: as with proto-loader's `oneofs: true`, the
 * synthetic oneof `_max_pause_wait_time` holds the field's name when it was on the wire, and the field itself
 * reads as 0 either way — so presence is read from the oneof, never from the value. See
 * docs/decisions/0001-grpc-library.md.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { WireWriter, readFields, stringField, varintField } from '../proto-wire.ts';

/** The reference proto file, next to this module (tools and docs; the service below does not read it). */
export const ADMIN_PROTO_PATH = fileURLToPath(new URL('./proto/admin.proto', import.meta.url));

/** Full gRPC service name, as on the wire (`/rpc.Admin/Pause`). */
export const ADMIN_SERVICE_NAME = 'rpc.Admin';

/** `PauseRequest` as decoded (proto-loader's shape: `keepCase`, `longs: Number`, `defaults`, `oneofs`). */
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

/** Builds (once) the service definition and its client constructor. */
export function loadAdminProto(): AdminProto {
  if (cached) return cached;
  const service: grpc.ServiceDefinition = {
    Pause: method('Pause', encodePauseRequest, decodePauseRequest, encodeEmpty, decodeEmpty),
    Unpause: method('Unpause', encodeEmpty, decodeEmpty, encodeEmpty, decodeEmpty),
    CheckPaused: method('CheckPaused', encodeEmpty, decodeEmpty, encodeCheckPaused, decodeCheckPaused),
    Stats: method('Stats', encodeEmpty, decodeEmpty, encodeStats, decodeStats),
  };
  cached = { service, Client: grpc.makeGenericClientConstructor(service, ADMIN_SERVICE_NAME) };
  return cached;
}

function method<Req, Res>(
  name: string,
  requestSerialize: (value: Req) => Buffer,
  requestDeserialize: (bytes: Buffer) => Req,
  responseSerialize: (value: Res) => Buffer,
  responseDeserialize: (bytes: Buffer) => Res,
): grpc.MethodDefinition<Req, Res> {
  return {
    path: `/${ADMIN_SERVICE_NAME}/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize,
    requestDeserialize,
    responseSerialize,
    responseDeserialize,
    // proto-loader's camelCase alias: clients may call `client.checkPaused(...)` as well as `CheckPaused`.
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
  };
}

const encodeEmpty = (): Buffer => Buffer.alloc(0);
const decodeEmpty = (): EmptyMessage => ({});

export function encodePauseRequest(request: PauseRequestMessage): Buffer {
  const writer = new WireWriter();
  if (request.wait_outstanding === true) writer.varint(1, true);
  const max = request.max_pause_wait_time;
  if (max !== null && max !== undefined) writer.varint(2, BigInt(max));
  return writer.finish();
}

export function decodePauseRequest(bytes: Buffer): PauseRequestMessage {
  const fields = readFields(bytes);
  const max = varintField(fields, 2);
  return {
    wait_outstanding: (varintField(fields, 1) ?? 0n) !== 0n,
    max_pause_wait_time: max === undefined ? 0 : Number(max),
    ...(max === undefined ? {} : { _max_pause_wait_time: 'max_pause_wait_time' as const }),
  };
}

const encodeCheckPaused = (m: CheckPausedResponseMessage): Buffer =>
  (m.paused ? new WireWriter().varint(1, true) : new WireWriter()).finish();
const decodeCheckPaused = (bytes: Buffer): CheckPausedResponseMessage => ({
  paused: (varintField(readFields(bytes), 1) ?? 0n) !== 0n,
});
const encodeStats = (m: StatsResponseMessage): Buffer =>
  (m.stats ? new WireWriter().bytes(1, m.stats) : new WireWriter()).finish();
const decodeStats = (bytes: Buffer): StatsResponseMessage => ({ stats: stringField(readFields(bytes), 1) });

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
