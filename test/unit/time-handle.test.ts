/** A time-handle member's restore point: the window's middle in the service's clock, or a clear refusal. */
import { describe, expect, it } from 'vitest';
import { windowTimeHandle } from '../../src/engines/time-handle.ts';
import { StillpointError } from '../../src/errors.ts';

describe('windowTimeHandle', () => {
  const window = { pausedAtMs: 1_000, unpauseStartedAtMs: 1_040, midMs: 1_020 };

  it('reads the middle of the window in the service clock and keeps the measurement uncertainty', () => {
    const handle = windowTimeHandle(
      { ...window, clock: { offsetMs: -250, uncertaintyMs: 7, rttMs: 12 } },
      'RDS',
      'm',
    );
    expect(handle).toEqual({ kind: 'time', atMs: 770, clockOffsetMs: -250, uncertaintyMs: 7 });
  });

  it('refuses with CLOCK_UNMEASURABLE, naming the service, when no clock was measured in the pause', () => {
    let thrown: unknown;
    try {
      windowTimeHandle(window, 'Cosmos DB', 'cos');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StillpointError);
    expect((thrown as StillpointError).code).toBe('CLOCK_UNMEASURABLE');
    expect((thrown as StillpointError).message).toContain('Cosmos DB');
  });
});
