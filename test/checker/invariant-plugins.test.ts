/** The CLI's plug-in names: `bank` resolves, lists and `none` are accepted, an unknown name is a coded error. */
import { describe, expect, it } from 'vitest';
import { resolveInvariants } from '../../src/cli/invariant-plugins.ts';
import { LAB_COMPOSITION } from '../../src/lab/composition.ts';

const plugins = LAB_COMPOSITION.invariantPlugins;

describe('resolveInvariants', () => {
  it('resolves names, comma lists and none', () => {
    expect(resolveInvariants(undefined, plugins)).toEqual([]);
    expect(resolveInvariants(['none'], plugins)).toEqual([]);
    expect(resolveInvariants(['bank', 'bank'], plugins).map((p) => p.name)).toEqual(['bank']);
    expect(resolveInvariants(['bank,none'], plugins).map((p) => p.name)).toEqual(['bank']);
  });

  it('refuses an unknown plug-in with CHECK_INVARIANTS_UNKNOWN naming the known ones', () => {
    expect(() => resolveInvariants(['ledger'], plugins)).toThrow(
      expect.objectContaining({ code: 'CHECK_INVARIANTS_UNKNOWN', hint: expect.stringContaining('bank') }),
    );
  });

  it('knows no plug-ins without the lab', () => {
    expect(() => resolveInvariants(['bank'], {})).toThrow(
      expect.objectContaining({ code: 'CHECK_INVARIANTS_UNKNOWN' }),
    );
  });
});
