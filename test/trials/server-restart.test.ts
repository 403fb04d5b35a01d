/**
 * A harness error may leave a group's shared servers broken (in the issue-18 Cassandra campaign a schema that
 * never agreed failed every later trial): the runner (src/lab/trials/runner.ts) gives the next trial of that
 * group servers started afresh, and keeps them while trials pass.
 */
import { describe, expect, it } from 'vitest';
import type { TrialGroupServers } from '../../src/lab/trials/group.ts';
import { runTrials } from '../../src/lab/trials/runner.ts';
import { stubResult } from './support.ts';

describe('trials runner', () => {
  it('starts a group’s shared servers again after a harness error, and only then', async () => {
    const seen: TrialGroupServers[] = [];
    const report = await runTrials({
      seed: 7,
      groups: ['sqlite'],
      trials: 4,
      negativeControl: false,
      runTrial: (spec) => {
        seen.push(spec.servers);
        return Promise.resolve(
          stubResult(spec, { harnessError: spec.index === 1 ? 'the shared servers broke' : null }),
        );
      },
    });
    expect(report.trials.map((t) => t.harnessError)).toEqual([null, 'the shared servers broke', null, null]);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).not.toBe(seen[1]);
    expect(seen[3]).toBe(seen[2]);
  });
});
