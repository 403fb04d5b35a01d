/**
 * Machine-readable error reasons on the admin service, the way newer upstream servers send them: a
 * `google.rpc.Status` holding a `google.rpc.ErrorInfo` in the `grpc-status-details-bin` trailer. The reason
 * is also put at the start of the message (`[TIMED_OUT] …`) for clients that only read the message.
 * The two messages (./proto/error-details.proto, the reference) are encoded by hand (../proto-wire.ts): the
 * client decodes them on every failed call, and protobufjs cost ~0.1 s of start-up (issue 17).
 */
import * as grpc from '@grpc/grpc-js';
import { WireWriter, bytesFields, readFields, stringField } from '../proto-wire.ts';

/** Reasons (upstream names) the admin service attaches. */
export type AdminErrorReason = 'TIMED_OUT' | 'TIMED_OUT_STILL_PAUSED' | 'PAUSE_IN_PROGRESS' | 'GATE_OPEN';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
/** The ErrorInfo domain of our servers. */
export const ERROR_DOMAIN = 'stillpoint.dev';

/** A gRPC error for a callback, carrying `reason` both in the message and as an ErrorInfo detail. */
export function adminError(
  code: grpc.status,
  reason: AdminErrorReason,
  message: string,
): Partial<grpc.StatusObject> {
  const details = `[${reason}] ${message}`;
  // google.rpc.ErrorInfo { string reason = 1; string domain = 2; }
  const info = new WireWriter().bytes(1, reason).bytes(2, ERROR_DOMAIN).finish();
  // google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
  // google.protobuf.Any { string type_url = 1; bytes value = 2; }
  const any = new WireWriter().bytes(1, ERROR_INFO_TYPE_URL).bytes(2, info).finish();
  const encoded = new WireWriter().varint(1, code).bytes(2, details).bytes(3, any).finish();
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(encoded));
  return { code, details, metadata };
}

/** Reads the ErrorInfo reason of a failed call: from the status details, else from a `[REASON]` prefix. */
export function readErrorReason(error: Partial<grpc.ServiceError>): string | undefined {
  const raw = error.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (Buffer.isBuffer(raw)) {
    try {
      for (const anyBytes of bytesFields(readFields(raw), 3)) {
        const any = readFields(anyBytes);
        if (stringField(any, 1) !== ERROR_INFO_TYPE_URL) continue;
        const value = bytesFields(any, 2).at(-1);
        const reason = value === undefined ? '' : stringField(readFields(value), 1);
        if (reason) return reason;
      }
    } catch {
      // A malformed details trailer is not fatal: fall back to the message prefix.
    }
  }
  return /^\[([A-Z_]+)\]/.exec(error.details ?? '')?.[1];
}
