import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { clockOffsetExecArgv } from '../../src/lab/trials/clock-offset.ts';

/** Wall clock minus real time (performance.timeOrigin + now) in a child started with the offset, ms. */
function measuredOffset(offsetMs: number): { now: number; constructed: number; explicit: string } {
  const script =
    'const real = performance.timeOrigin + performance.now();' +
    'console.log(JSON.stringify({ now: Date.now() - real, constructed: new Date().getTime() - real, explicit: new Date(0).toISOString() }));';
  const out = spawnSync(process.execPath, [...clockOffsetExecArgv(offsetMs), '-e', script], {
    encoding: 'utf8',
  });
  expect(out.status, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as { now: number; constructed: number; explicit: string };
}

describe('clock offset preload', () => {
  it.each([7_000, -4_000])(
    'moves Date.now() and new Date() by %i ms, leaving explicit dates alone',
    (offsetMs) => {
      const m = measuredOffset(offsetMs);
      // Bounds, not timings: the child reads both clocks back to back.
      expect(Math.abs(m.now - offsetMs)).toBeLessThan(500);
      expect(Math.abs(m.constructed - offsetMs)).toBeLessThan(500);
      expect(m.explicit).toBe('1970-01-01T00:00:00.000Z');
    },
  );
});
