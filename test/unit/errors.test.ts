import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  EngineError,
  asStillpointError,
  exitCodeFor,
  isRetryable,
  TransactionError,
} from '../../src/errors.ts';

describe('errors', () => {
  it('puts the code in the message and keeps hint, context and cause', () => {
    const cause = new Error('boom');
    const e = new EngineError('CAPTURE_FAILED', 'Capture failed.', {
      hint: 'Check the server.',
      context: { member: 'a' },
      cause,
    });
    expect(e.message).toBe('[CAPTURE_FAILED] Capture failed.');
    expect(e.code).toBe('CAPTURE_FAILED');
    expect(e.toJSON()).toMatchObject({
      name: 'EngineError',
      hint: 'Check the server.',
      context: { member: 'a' },
    });
    expect(e.cause).toBe(cause);
  });

  it('maps config errors to exit 2 and everything else to 1', () => {
    expect(exitCodeFor(new ConfigError('PLAN_INVALID', 'x'))).toBe(2);
    expect(exitCodeFor(new Error('x'))).toBe(1);
  });

  it('wraps foreign errors and classifies retryable codes', () => {
    expect(asStillpointError(new Error('x')).code).toBe('INTERNAL');
    expect(isRetryable(new TransactionError('TX_CONFLICT', 'c'))).toBe(true);
    expect(isRetryable(new TransactionError('TX_CONDITION_FAILED', 'c'))).toBe(false);
  });
});
