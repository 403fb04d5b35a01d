/**
 * Machine-readable error reasons on the admin service, the way newer upstream servers send them: a
 * `google.rpc.Status` holding a `google.rpc.ErrorInfo` in the `grpc-status-details-bin` trailer. The reason
 * is also put at the start of the message (`[TIMED_OUT] …`) for clients that only read the message.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/** Reasons (upstream names) the admin service attaches. */
export type AdminErrorReason = 'TIMED_OUT' | 'TIMED_OUT_STILL_PAUSED' | 'PAUSE_IN_PROGRESS' | 'GATE_OPEN';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
/** The ErrorInfo domain of our servers. */
export const ERROR_DOMAIN = 'stillpoint.dev';

let types: { status: protobuf.Type; errorInfo: protobuf.Type } | undefined;

function loadTypes(): { status: protobuf.Type; errorInfo: protobuf.Type } {
  if (types) return types;
  const root = protobuf.loadSync(fileURLToPath(new URL('./proto/error-details.proto', import.meta.url)));
  types = {
    status: root.lookupType('google.rpc.Status'),
    errorInfo: root.lookupType('google.rpc.ErrorInfo'),
  };
  return types;
}

/** A gRPC error for a callback, carrying `reason` both in the message and as an ErrorInfo detail. */
export function adminError(
  code: grpc.status,
  reason: AdminErrorReason,
  message: string,
): Partial<grpc.StatusObject> {
  const { status, errorInfo } = loadTypes();
  const details = `[${reason}] ${message}`;
  const info = errorInfo.encode(errorInfo.fromObject({ reason, domain: ERROR_DOMAIN })).finish();
  const encoded = status
    .encode(
      status.fromObject({
        code,
        message: details,
        details: [{ type_url: ERROR_INFO_TYPE_URL, value: info }],
      }),
    )
    .finish();
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(encoded));
  return { code, details, metadata };
}

/** Reads the ErrorInfo reason of a failed call: from the status details, else from a `[REASON]` prefix. */
export function readErrorReason(error: Partial<grpc.ServiceError>): string | undefined {
  const raw = error.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (Buffer.isBuffer(raw)) {
    try {
      const { status, errorInfo } = loadTypes();
      const decoded = status.toObject(status.decode(raw)) as {
        details?: Array<{ type_url?: string; value?: Uint8Array }>;
      };
      for (const any of decoded.details ?? []) {
        if (any.type_url === ERROR_INFO_TYPE_URL && any.value) {
          const info = errorInfo.toObject(errorInfo.decode(any.value)) as { reason?: string };
          if (info.reason) return info.reason;
        }
      }
    } catch {
      // A malformed details trailer is not fatal: fall back to the message prefix.
    }
  }
  return /^\[([A-Z_]+)\]/.exec(error.details ?? '')?.[1];
}
