/**
 * Puts a grpc-js unary handler behind a {@link Gate}: each call is one unit of work, admitted before the
 * handler runs and released exactly once when it answers (or fails, or the caller cancels). While the gate is
 * closed, reject-mode gates answer `UNAVAILABLE` "the server is paused" (ScalarDB Server's answer; its
 * clients retry) and hold-mode gates wait, then answer `UNAVAILABLE` if the hold limit is reached.
 *
 * Requests that belong to an already admitted multi-request transaction must not go through `withGate`
 * (the transaction holds its own ticket from begin to commit/abort, see `Gate.enter`).
 */
import * as grpc from '@grpc/grpc-js';
import { PauseError } from '../errors.ts';
import type { Gate, GateTicket } from './contract.ts';

/** The message clients see while the server is paused (upstream wording). */
export const PAUSED_MESSAGE = 'the server is paused';

/** Wraps `handler` so each call enters `gate` first. Stable API: the node serves its data API with it. */
export function withGate<Req, Res>(
  gate: Gate,
  handler: grpc.handleUnaryCall<Req, Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    gate.enter().then(
      (ticket) => runAdmitted(ticket, handler, call, callback),
      (error: unknown) => callback(gatedError(error)),
    );
  };
}

function runAdmitted<Req, Res>(
  ticket: GateTicket,
  handler: grpc.handleUnaryCall<Req, Res>,
  call: grpc.ServerUnaryCall<Req, Res>,
  callback: grpc.sendUnaryData<Res>,
): void {
  // A cancelled call may never reach the callback: release on cancel too (release is idempotent).
  const onCancelled = (): void => ticket.release();
  call.once('cancelled', onCancelled);
  const done: grpc.sendUnaryData<Res> = (error, value, trailer, flags) => {
    ticket.release();
    call.removeListener('cancelled', onCancelled);
    callback(error, value, trailer, flags);
  };
  try {
    // A handler may return a promise (an async function); its rejection is a bug of the handler, answered INTERNAL.
    const result = handler(call, done) as unknown;
    if (result instanceof Promise) {
      result.catch((error: unknown) => done({ code: grpc.status.INTERNAL, details: describe(error) }));
    }
  } catch (error) {
    done({ code: grpc.status.INTERNAL, details: describe(error) });
  }
}

function gatedError(error: unknown): Partial<grpc.StatusObject> {
  if (error instanceof PauseError && error.code === 'GATE_PAUSED') {
    return { code: grpc.status.UNAVAILABLE, details: PAUSED_MESSAGE };
  }
  return { code: grpc.status.INTERNAL, details: describe(error) };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
