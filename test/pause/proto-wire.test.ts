/**
 * The hand-written admin codec (src/pause/admin-proto.ts, error-details.ts over proto-wire.ts) against
 * protobufjs reading the reference .proto files: the same bytes decode to the same values both ways, for the
 * edge cases the service relies on (absent vs present-zero optional int64, negative int64, unknown fields).
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodePauseRequest, encodePauseRequest, loadAdminProto } from '../../src/pause/admin-proto.ts';
import { adminError, readErrorReason, STATUS_DETAILS_KEY } from '../../src/pause/error-details.ts';

const protoDir = fileURLToPath(new URL('../../src/pause/proto/', import.meta.url));
const admin = new protobuf.Root().loadSync(`${protoDir}admin.proto`, { keepCase: true });
const PauseRequest = admin.lookupType('rpc.PauseRequest');
const details = new protobuf.Root().loadSync(`${protoDir}error-details.proto`, { keepCase: true });

describe('admin messages, hand-encoded', () => {
  it.each([
    { wait_outstanding: true },
    { wait_outstanding: false, max_pause_wait_time: 0 },
    { wait_outstanding: true, max_pause_wait_time: 86_400_000 },
    { wait_outstanding: false, max_pause_wait_time: -5 },
  ])('PauseRequest %j: protobufjs reads what we write, we read what protobufjs writes', (request) => {
    const ours = encodePauseRequest(request);
    const theirs = PauseRequest.toObject(PauseRequest.decode(ours), { longs: Number, oneofs: true });
    expect(theirs.wait_outstanding ?? false).toBe(request.wait_outstanding);
    expect(theirs.max_pause_wait_time).toBe(request.max_pause_wait_time);
    const back = decodePauseRequest(
      Buffer.from(PauseRequest.encode(PauseRequest.fromObject(request)).finish()),
    );
    expect(back.wait_outstanding).toBe(request.wait_outstanding);
    expect(back._max_pause_wait_time).toBe(
      request.max_pause_wait_time === undefined ? undefined : 'max_pause_wait_time',
    );
    expect(back.max_pause_wait_time).toBe(request.max_pause_wait_time ?? 0);
  });

  it('skips unknown fields (a newer upstream message)', () => {
    // field 1 = true, field 9 (string "x"), field 2 = 7
    const bytes = Buffer.from([0x08, 0x01, 0x4a, 0x01, 0x78, 0x10, 0x07]);
    expect(decodePauseRequest(bytes)).toEqual({
      wait_outstanding: true,
      max_pause_wait_time: 7,
      _max_pause_wait_time: 'max_pause_wait_time',
    });
  });

  it('CheckPaused and Stats responses round-trip through the service definition', () => {
    const { service } = loadAdminProto();
    const check = service.CheckPaused!;
    expect(check.path).toBe('/rpc.Admin/CheckPaused');
    expect(check.responseDeserialize(check.responseSerialize({ paused: true }))).toEqual({ paused: true });
    expect(check.responseDeserialize(check.responseSerialize({ paused: false }))).toEqual({ paused: false });
    const stats = service.Stats!;
    const text = JSON.stringify({ pauses: 3, note: 'é' });
    expect(stats.responseDeserialize(stats.responseSerialize({ stats: text }))).toEqual({ stats: text });
  });
});

describe('error details, hand-encoded', () => {
  it('protobufjs decodes our google.rpc.Status with its ErrorInfo', () => {
    const error = adminError(grpc.status.DEADLINE_EXCEEDED, 'TIMED_OUT', 'drain took too long');
    const raw = error.metadata!.get(STATUS_DETAILS_KEY)[0] as Buffer;
    const Status = details.lookupType('google.rpc.Status');
    const ErrorInfo = details.lookupType('google.rpc.ErrorInfo');
    const status = Status.toObject(Status.decode(raw)) as {
      code: number;
      message: string;
      details: Array<{ type_url: string; value: Uint8Array }>;
    };
    expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(status.message).toBe('[TIMED_OUT] drain took too long');
    expect(status.details[0]!.type_url).toBe('type.googleapis.com/google.rpc.ErrorInfo');
    expect(ErrorInfo.toObject(ErrorInfo.decode(status.details[0]!.value))).toMatchObject({
      reason: 'TIMED_OUT',
      domain: 'stillpoint.dev',
    });
  });

  it('reads the reason from a protobufjs-encoded Status, without relying on the message prefix', () => {
    const Status = details.lookupType('google.rpc.Status');
    const ErrorInfo = details.lookupType('google.rpc.ErrorInfo');
    const info = ErrorInfo.encode(ErrorInfo.fromObject({ reason: 'GATE_OPEN', domain: 'x' })).finish();
    const raw = Status.encode(
      Status.fromObject({
        code: 9,
        message: 'no prefix here',
        details: [
          { type_url: 'type.googleapis.com/google.rpc.DebugInfo', value: Buffer.from([0x0a, 0x00]) },
          { type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: info },
        ],
      }),
    ).finish();
    const metadata = new grpc.Metadata();
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(raw));
    expect(readErrorReason({ metadata, details: 'no prefix here' })).toBe('GATE_OPEN');
    metadata.set(STATUS_DETAILS_KEY, Buffer.from([0xff]));
    expect(readErrorReason({ metadata, details: '[TIMED_OUT] x' })).toBe('TIMED_OUT');
  });
});
