import { describe, expect, it } from 'vitest';
import { MAX_DURATION_MS, checkDurationMs, formatDuration, parseDuration } from '../../src/duration.ts';
import { codeOf } from '../support/error-code.ts';

describe('parseDuration (the one duration syntax)', () => {
  it('reads every unit, integers and decimals; a bare number is ms', () => {
    expect(
      ['250', '500ms', '1.5s', '2m', '1h', '1d', '0.5h'].map((t) =>
        parseDuration(t, 'x', { maxMs: 7 * 86_400_000 }),
      ),
    ).toEqual([250, 500, 1_500, 120_000, 3_600_000, 86_400_000, 1_800_000]);
    expect(parseDuration('1w', 'x', { maxMs: 604_800_000 })).toBe(604_800_000);
  });

  it('refuses what is not a duration with DURATION_INVALID and a hint', async () => {
    for (const text of ['', 'soon', '5 sec', '-1s', '1e3', '5y']) {
      expect(await codeOf(Promise.resolve().then(() => parseDuration(text, '--hold')))).toBe(
        'DURATION_INVALID',
      );
    }
  });

  it('bounds every value: 24 h by default, never above a Node timer (2^31-1 ms)', async () => {
    expect(parseDuration('24h', '--hold')).toBe(MAX_DURATION_MS);
    expect(await codeOf(Promise.resolve().then(() => parseDuration('1000h', '--hold')))).toBe(
      'DURATION_OUT_OF_RANGE',
    );
    expect(await codeOf(Promise.resolve().then(() => parseDuration('0s', '--hold')))).toBe(
      'DURATION_OUT_OF_RANGE',
    );
    expect(
      await codeOf(Promise.resolve().then(() => parseDuration('30d', 'x', { maxMs: 90 * 86_400_000 }))),
    ).toBe('DURATION_OUT_OF_RANGE');
    expect(await codeOf(Promise.resolve().then(() => checkDurationMs(9e9, 'leaseMs')))).toBe(
      'DURATION_OUT_OF_RANGE',
    );
    expect(checkDurationMs(0, 'x', { minMs: 0 })).toBe(0);
  });

  it('formats with the largest exact unit', () => {
    expect([0, 1_500, 60_000, 86_400_000].map(formatDuration)).toEqual(['0ms', '1500ms', '1m', '1d']);
  });
});
