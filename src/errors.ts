/**
 * The error classes of stillpoint. Every error carries a stable `code` (tests and scripts match on it,
 * never on the prose), the context it concerns (target, engine, member, backup id) and an optional
 * `hint`: a sentence that tells the user what to do next. The code also appears in the message, so a
 * log line alone is enough to look it up.
 */

import { ERROR_CODES, isErrorCode, type CodeOf, type ErrorCode } from './error-codes.ts';

export type { ErrorCode } from './error-codes.ts';

/** Where an error happened; every field is optional and only set when known. */
export interface ErrorContext {
  readonly target?: string;
  readonly cluster?: string;
  readonly member?: string;
  readonly engine?: string;
  readonly backupId?: string;
  readonly key?: string;
  readonly [extra: string]: unknown;
}

export interface StillpointErrorOptions {
  readonly hint?: string;
  readonly context?: ErrorContext;
  readonly cause?: unknown;
}

/** Base class; prefer one of the subclasses below. `C` is the set of codes the class may carry. */
export class StillpointError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly hint: string | undefined;
  readonly context: ErrorContext;
  /** The message without its `[CODE]` prefix: for wrapping in another error without repeating codes. */
  readonly detail: string;

  constructor(code: C, message: string, options: StillpointErrorOptions = {}) {
    super(`[${code}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.detail = message;
    this.hint = options.hint;
    this.context = options.context ?? {};
  }

  /** A plain object for `--json` output and NDJSON events. */
  toJSON(): { name: string; code: string; message: string; hint?: string; context: ErrorContext } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      context: this.context,
    };
  }
}

/** Bad input: a malformed plan, flag, address or config file, or a refusal a flag can lift. */
export class ConfigError extends StillpointError<CodeOf<'config'>> {}

/** The pause protocol: a target refused, timed out, was unreachable, or a gate is closed. */
export class PauseError extends StillpointError<CodeOf<'pause'>> {}

/** A transaction-layer or storage failure (`TX_CONFLICT` is retryable; see {@link isRetryable}). */
export class TransactionError extends StillpointError<CodeOf<'transaction'>> {}

/** A backup engine failed a phase (preflight, capture, finish, horizon, restore, verify). */
export class EngineError extends StillpointError<CodeOf<'engine'>> {}

/** The catalog or the artifact store: a missing backup, a checksum mismatch, a state conflict. */
export class CatalogError extends StillpointError<CodeOf<'catalog'>> {}

/** A bug: an invariant of ours did not hold. */
export class InternalError extends StillpointError<CodeOf<'internal'>> {}

/** Codes whose operation may succeed when retried as a whole (a fresh transaction, a fresh pause). */
const RETRYABLE_CODES = new Set([
  'TX_CONFLICT',
  'TX_UNKNOWN_STATE_RETRY',
  'PAUSE_IN_PROGRESS',
  'GATE_PAUSED',
  'STORAGE_CONNECTION_LOST',
]);

/** `instanceof` on the generic class would type the code as `any`; this keeps it an ErrorCode. */
export function isStillpointError(error: unknown): error is StillpointError {
  return error instanceof StillpointError;
}

/** Whether an operation that failed with `code` may succeed when retried as a whole. */
export function isRetryableCode(code: string): boolean {
  return RETRYABLE_CODES.has(code);
}

export function isRetryable(error: unknown): boolean {
  return isStillpointError(error) && RETRYABLE_CODES.has(error.code);
}

/** Wraps anything thrown into a StillpointError, keeping StillpointErrors as they are. */
export function asStillpointError(error: unknown): StillpointError {
  if (isStillpointError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new InternalError('INTERNAL', message, { cause: error });
}

/** CLI exit code for an error: the one its code has in ./error-codes.ts (1 for anything else). */
export function exitCodeFor(error: unknown): number {
  return isStillpointError(error) && isErrorCode(error.code) ? ERROR_CODES[error.code].exit : 1;
}
