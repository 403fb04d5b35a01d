/**
 * The one refusal rule every engine's restore applies to its own {@link TargetInspection}, so the same
 * target state gets the same code everywhere (ConfigError, CLI exit 2).
 */
import { ConfigError, EngineError } from '../errors.ts';
import type { RestoreOptions, TargetInspection } from './contract.ts';

/**
 * Failed checks always refuse;
 * `restored` / `foreign` need force; `live-source` needs force and allowSource.
 */
export function refuseUnlessRestorable(
  inspection: TargetInspection,
  opts: Pick<RestoreOptions, 'force' | 'allowSource'>,
  context: Record<string, string>,
): void {
  const failed = inspection.checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    throw new EngineError(
      'RESTORE_TARGET_UNUSABLE',
      `Restore target ${context.target ?? ''} failed its checks: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}.`,
      {
        context,
        ...(failed[0]?.hint === undefined ? {} : { hint: failed[0].hint }),
      },
    );
  }
  const hint = inspection.hint ?? 'Restore into a new target, or pass --force.';
  if (inspection.state === 'live-source' && !(opts.force && opts.allowSource === true)) {
    throw new ConfigError(
      'RESTORE_TARGET_IS_SOURCE',
      `Restore target is the member's live source: ${inspection.detail}.`,
      { context, hint },
    );
  }
  if ((inspection.state === 'restored' || inspection.state === 'foreign') && !opts.force) {
    throw new ConfigError('RESTORE_TARGET_NOT_EMPTY', `Restore target is not empty: ${inspection.detail}.`, {
      context,
      hint,
    });
  }
}
