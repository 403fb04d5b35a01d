/**
 * Application invariants the CLI knows by name (`--invariants bank`, or a plan's `check.invariants`). The
 * product's checker and restore runner take plug-ins as values and never import a workload; this is the one
 * place that maps a name to the workload that defines it.
 */
import type { AppInvariant, InvariantPlugins } from '../checker/invariants.ts';
import { ConfigError } from '../errors.ts';
import { bankInvariants } from '../workload/bank-invariants.ts';

export const INVARIANT_PLUGINS: InvariantPlugins = Object.freeze({ bank: bankInvariants });

/** The plug-ins named (comma-separated lists allowed); ConfigError `CHECK_INVARIANTS_UNKNOWN` for an unknown one. */
export function resolveInvariants(names: readonly string[] | undefined): AppInvariant[] {
  const list = (names ?? []).flatMap((n) => n.split(',')).map((n) => n.trim()).filter((n) => n !== '' && n !== 'none');
  return [...new Set(list)].map((name) => {
    const plugin = INVARIANT_PLUGINS[name];
    if (plugin === undefined) {
      throw new ConfigError('CHECK_INVARIANTS_UNKNOWN', `There are no application invariants named "${name}".`, {
        hint: `Use one of: ${Object.keys(INVARIANT_PLUGINS).join(', ')} (or none).`,
        context: { invariants: name },
      });
    }
    return plugin;
  });
}
