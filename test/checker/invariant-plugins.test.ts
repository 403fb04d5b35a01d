/** The CLI's plug-in names: `bank` resolves, lists and `none` are accepted, an unknown name is a coded error. */
import { describe, expect, it } from 'vitest';
import { resolveInvariants } from '../../src/cli/invariant-plugins.ts';

describe('resolveInvariants', () => {
  it('resolves names, comma lists and none', () => {
    expect(resolveInvariants(undefined)).toEqual([]);
    expect(resolveInvariants(['none'])).toEqual([]);
    expect(resolveInvariants(['bank', 'bank']).map((p) => p.name)).toEqual(['bank']);
    expect(resolveInvariants(['bank,none']).map((p) => p.name)).toEqual(['bank']);
  });

  it('refuses an unknown plug-in with CHECK_INVARIANTS_UNKNOWN naming the known ones', () => {
    expect(() => resolveInvariants(['ledger'])).toThrow(expect.objectContaining({ code: 'CHECK_INVARIANTS_UNKNOWN', hint: expect.stringContaining('bank') }));
  });
});
