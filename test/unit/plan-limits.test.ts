/**
 * Names and bounds validated up front by the plan schema: before anything pauses, a huge number or a
 * 5 000-character name is a coded error naming the key (old code paused the cluster first, then failed in
 * finish, or overflowed Node's timer so a 9e9 ms lease unpaused after 1 ms).
 */
import { describe, expect, it } from 'vitest';
import { parsePlan } from '../../src/plan/load-plan.ts';

const base = (): Record<string, unknown> => ({
  version: 1,
  clusters: [{ name: 'nodes', targets: { addresses: ['127.0.0.1:50051'] } }],
  members: [
    {
      name: 'coord',
      engine: 'sqlite',
      connection: { kind: 'sqlite', path: '/tmp/c.db' },
      namespaces: ['coordinator'],
    },
  ],
});

function refusal(plan: Record<string, unknown>): { code?: string; key?: string } {
  try {
    parsePlan(plan);
  } catch (error) {
    const e = error as { code?: string; context?: { key?: string } };
    return {
      ...(e.code === undefined ? {} : { code: e.code }),
      ...(e.context?.key === undefined ? {} : { key: e.context.key }),
    };
  }
  return {};
}

describe('plan limits', () => {
  it('refuses leaseMs: 9e9 and captureTimeoutMs: 9e9 with PLAN_INVALID naming the key', () => {
    const lease = base();
    lease.clusters = [{ name: 'nodes', targets: { addresses: ['127.0.0.1:50051'] }, leaseMs: 9e9 }];
    expect(refusal(lease)).toEqual({ code: 'PLAN_INVALID', key: 'clusters.0.leaseMs' });
    expect(refusal({ ...base(), window: { captureTimeoutMs: 9e9 } })).toEqual({
      code: 'PLAN_INVALID',
      key: 'window.captureTimeoutMs',
    });
    expect(refusal({ ...base(), window: { minMs: 9e9 } })).toEqual({
      code: 'PLAN_INVALID',
      key: 'window.minMs',
    });
    expect(refusal({ ...base(), window: { marginMs: 9e9 } })).toEqual({
      code: 'PLAN_INVALID',
      key: 'window.marginMs',
    });
    const drain = base();
    drain.clusters = [{ name: 'nodes', targets: { addresses: ['127.0.0.1:50051'] }, drainTimeoutMs: 9e9 }];
    expect(refusal(drain)).toEqual({ code: 'PLAN_INVALID', key: 'clusters.0.drainTimeoutMs' });
  });

  it('refuses names over 63 characters or outside the safe charset', () => {
    const long = base();
    long.members = [
      {
        name: 'm'.repeat(5000),
        engine: 'sqlite',
        connection: { kind: 'sqlite', path: '/tmp/c.db' },
        namespaces: ['coordinator'],
      },
    ];
    expect(refusal(long)).toEqual({ code: 'PLAN_INVALID', key: 'members.0.name' });
    const odd = base();
    odd.clusters = [{ name: 'a b;rm', targets: { addresses: ['127.0.0.1:50051'] } }];
    expect(refusal(odd)).toEqual({ code: 'PLAN_INVALID', key: 'clusters.0.name' });
    expect(refusal({ ...base(), group: 'g'.repeat(64) })).toEqual({ code: 'PLAN_INVALID', key: 'group' });
    expect(refusal({ ...base(), group: 'g'.repeat(63) })).toEqual({});
  });

  it('refuses an inline member password with its own code', () => {
    const plan = base();
    plan.members = [
      {
        name: 'coord',
        engine: 'sqlite',
        connection: { kind: 'sqlite', path: '/tmp/c.db' },
        namespaces: ['coordinator'],
      },
      {
        name: 'pg',
        engine: 'postgres',
        connection: { kind: 'postgres', host: 'h', port: 5432, user: 'u', database: 'd', password: 'x' },
        namespaces: ['bank_a'],
      },
    ];
    expect(refusal(plan)).toEqual({ code: 'PLAN_INLINE_PASSWORD', key: 'members.1.connection.password' });
  });

  it('reads check.invariants (default none)', () => {
    expect(parsePlan(base()).checkInvariants).toEqual([]);
    expect(parsePlan({ ...base(), check: { invariants: ['bank'] } }).checkInvariants).toEqual(['bank']);
  });
});
