/**
 * The restore point of a time-handle member (rds, azure-flexible, dynamodb, cosmos): nothing is copied
 * inside the pause; the point is the window's middle read in the SERVICE's clock (our midpoint plus the
 * offset measured inside the pause), with the measurement's uncertainty kept for the validity check.
 */
import { EngineError } from '../errors.ts';
import type { FinishWindow, RestoreHandle } from './contract.ts';

/** The `time` handle of `window`; `service` names the database in the error when no clock was measured. */
export function windowTimeHandle(window: FinishWindow, service: string, member: string): RestoreHandle {
  if (window.clock === undefined)
    throw new EngineError(
      'CLOCK_UNMEASURABLE',
      `The ${service} restore time needs the clock measured inside the pause.`,
      { context: { member } },
    );
  return {
    kind: 'time',
    atMs: window.midMs + window.clock.offsetMs,
    clockOffsetMs: window.clock.offsetMs,
    uncertaintyMs: window.clock.uncertaintyMs,
  };
}
