/**
 * The one duration syntax of stillpoint, for every flag and config key that takes a time: a number and a
 * unit — `ms`, `s`, `m`, `h`, `d`, `w` — integers or decimals (`1.5s`, `90m`, `2d`); a bare number is
 * milliseconds (scalar-admin's `-m` and the wire's `*_ms` fields are ms).
 *
 * Every duration is bounded: a time handed to a Node timer above 2^31-1 ms (~24.8 days) fires after 1 ms
 * (a lease of 9e9 ms would unpause at once), and nothing stillpoint waits for should last longer than a
 * day, so the default upper bound is 24 h. Errors are ConfigErrors with a stable code and a hint:
 * `DURATION_INVALID` (not a duration) and `DURATION_OUT_OF_RANGE` (outside the bounds).
 */
import { ConfigError } from './errors.ts';

/** The largest delay a Node timer honours; above it `setTimeout` fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
type Unit = keyof typeof UNIT_MS;

/** The default upper bound of every duration: 24 h. */
export const MAX_DURATION_MS = UNIT_MS.h * 24;

export interface DurationBounds {
  /** Smallest accepted value in ms. Default 1 (durations are positive). */
  readonly minMs?: number;
  /** Largest accepted value in ms. Default {@link MAX_DURATION_MS} (24 h); never above {@link MAX_TIMER_MS} for a timer. */
  readonly maxMs?: number;
  /**
   * False for an age compared with a clock (a retention window, a minimum age), never handed to a timer:
   * `maxMs` may then exceed {@link MAX_TIMER_MS}. Default true.
   */
  readonly timer?: boolean;
}

const DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d|w)?$/;

/**
 * Parses `text` (e.g. `500ms`, `30s`, `1.5h`, `2d`, `1w`, `250`) into whole milliseconds within `bounds`.
 * `what` names the flag or key in the error (`--hold`, `leaseMs`).
 */
export function parseDuration(text: string, what: string, bounds: DurationBounds = {}): number {
  const match = DURATION.exec(text.trim());
  if (match === null) {
    throw new ConfigError('DURATION_INVALID', `${what} must be a duration, got "${text}".`, {
      hint: 'Write a number and a unit (ms, s, m, h, d, w), e.g. 500ms, 30s, 1.5m, 2h; a bare number is milliseconds.',
      context: { key: what },
    });
  }
  const unit = (match[2] ?? 'ms') as Unit;
  return checkDurationMs(Math.round(Number(match[1]) * UNIT_MS[unit]), what, bounds, text);
}

/** Checks a duration already in ms (a config number, a wire field) against `bounds`; returns it. */
export function checkDurationMs(
  ms: number,
  what: string,
  bounds: DurationBounds = {},
  given: string = String(ms),
): number {
  const minMs = bounds.minMs ?? 1;
  const maxMs =
    bounds.timer === false
      ? (bounds.maxMs ?? MAX_DURATION_MS)
      : Math.min(bounds.maxMs ?? MAX_DURATION_MS, MAX_TIMER_MS);
  if (!Number.isFinite(ms) || ms < minMs || ms > maxMs) {
    throw new ConfigError(
      'DURATION_OUT_OF_RANGE',
      `${what} must be between ${formatDuration(minMs)} and ${formatDuration(maxMs)}, got ${given}${given === String(ms) ? ' ms' : ''}.`,
      {
        hint: `Give ${what} a value from ${formatDuration(minMs)} to ${formatDuration(maxMs)}.`,
        context: { key: what },
      },
    );
  }
  return ms;
}

/** `86400000` → `24h`, `1500` → `1500ms`: the largest unit that divides the value exactly. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0ms';
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
