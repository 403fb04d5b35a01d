/**
 * Per-group trial sizes (src/lab/trials/runner.ts `sizesFor`): the cassandra group's backups get their own,
 * larger budget (a real 3-node cluster's finish passed the default 120 s in trial 47 of the issue-18
 * campaign) and a 30 s capture bound (its capture passed 10 s at load ~30), every other group keeps the
 * defaults, and sizes the caller gives explicitly still win. The capture bound reaches the trial's plan.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { writeTrialPlan } from '../../src/lab/trials/backup-process.ts';
import { sizesFor } from '../../src/lab/trials/runner.ts';
import { DEFAULT_SIZES } from '../../src/lab/trials/sizes.ts';

describe('trial sizes per group', () => {
  it('gives the cassandra group a 300 s backup budget and leaves the others at the default', () => {
    expect(DEFAULT_SIZES.backupTimeoutMs).toBe(120_000);
    expect(sizesFor('cassandra').backupTimeoutMs).toBe(300_000);
    expect(sizesFor('sqlite').backupTimeoutMs).toBe(120_000);
    expect(sizesFor('postgres+mariadb')).toEqual(DEFAULT_SIZES);
    expect(sizesFor('cassandra', { backupTimeoutMs: 200_000 }).backupTimeoutMs).toBe(200_000);
    expect(sizesFor('cassandra', { leaseMs: 5_000 })).toMatchObject({
      leaseMs: 5_000,
      backupTimeoutMs: 300_000,
    });
  });

  it('writes the group’s capture bound into the trial plan (absent: the plan default)', async () => {
    expect(sizesFor('sqlite').captureTimeoutMs).toBe(10_000);
    expect(sizesFor('cassandra').captureTimeoutMs).toBe(30_000);
    const dir = await mkdtemp(join(tmpdir(), 'trial-plan-'));
    try {
      const input = {
        dir,
        mode: 'snapshot',
        adminAddresses: ['127.0.0.1:1'],
        members: [
          {
            name: 'a',
            engine: 'sqlite',
            connection: { kind: 'sqlite' as const, path: join(dir, 'a.db') },
            namespaces: ['bank_a', 'coordinator'],
            options: {},
          },
        ],
        leaseMs: 3_000,
        drainTimeoutMs: 5_000,
        minWindowMs: 0,
      };
      const bounded = await writeTrialPlan({ ...input, captureTimeoutMs: 10_000 });
      expect(loadPlan(bounded.file).window.captureTimeoutMs).toBe(10_000);
      const unbounded = await writeTrialPlan(input);
      expect(loadPlan(unbounded.file).window.captureTimeoutMs).toBe(30_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
