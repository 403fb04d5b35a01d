/**
 * Per-group trial sizes (src/lab/trials/runner.ts `sizesFor`): the cassandra group's backups get their own,
 * larger budget (a real 3-node cluster's finish passed the default 120 s in trial 47 of the issue-18
 * campaign), every other group keeps the default, and sizes the caller gives explicitly still win.
 */
import { describe, expect, it } from 'vitest';
import { sizesFor } from '../../src/lab/trials/runner.ts';
import { DEFAULT_SIZES } from '../../src/lab/trials/trial.ts';

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
});
