/**
 * Application invariants by name (`--invariants bank`, or a plan's `check.invariants`). The product's checker
 * and restore runner take plug-ins as values and never import a workload; the CLI's entry point passes the
 * known plug-ins in (./composition.ts), and this maps names to them.
 */
import type { AppInvariant, InvariantPlugins } from '../checker/invariants.ts';
import { ConfigError } from '../errors.ts';

/** The plug-ins named (comma-separated lists allowed); ConfigError `CHECK_INVARIANTS_UNKNOWN` for an unknown one. */
export function resolveInvariants(
  names: readonly string[] | undefined,
  plugins: InvariantPlugins,
): AppInvariant[] {
  const list = (names ?? [])
    .flatMap((n) => n.split(','))
    .map((n) => n.trim())
    .filter((n) => n !== '' && n !== 'none');
  return [...new Set(list)].map((name) => {
    const plugin = plugins[name];
    if (plugin === undefined) {
      const known = Object.keys(plugins);
      throw new ConfigError(
        'CHECK_INVARIANTS_UNKNOWN',
        `There are no application invariants named "${name}".`,
        {
          hint:
            known.length === 0
              ? 'This build knows no application invariants; use none.'
              : `Use one of: ${known.join(', ')} (or none).`,
          context: { invariants: name },
        },
      );
    }
    return plugin;
  });
}
