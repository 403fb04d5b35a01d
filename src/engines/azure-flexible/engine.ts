/**
 * The `azure-flexible` engine kind: Azure Database for PostgreSQL / MySQL flexible servers backed up by the
 * service's point-in-time restore (`time` handle, clock-based, horizon wait). The flavour follows the
 * member's connection kind (postgres | mysql). The built-in kind talks to ARM with the real @azure/arm-*
 * clients; the lab points their endpoint at src/lab/fakes/azure-flexible-fake.ts.
 */
import { ConfigError } from '../../errors.ts';
import type { EngineKind } from '../contract.ts';
import { ArmFlexibleControlPlane } from './arm-control-plane.ts';
import type { FlexibleControlPlane } from './control-plane.ts';
import { azureFlexibleOptionsSchema, type AzureFlexibleOptions } from './options.ts';
import { MANAGED_CAPABILITIES } from '../managed-restore.ts';
import { AzureFlexibleBackupSession } from './pitr/capture.ts';
import { AzureFlexibleRestoreSession } from './pitr/restore.ts';

export type ParsedAzureFlexibleOptions = AzureFlexibleOptions & {
  readonly flavor: 'mysql' | 'postgres';
  readonly port: number;
};

export function createAzureFlexibleEngine(
  controlPlaneFor: (options: ParsedAzureFlexibleOptions) => FlexibleControlPlane,
): EngineKind<ParsedAzureFlexibleOptions> {
  return {
    kind: 'azure-flexible',
    parseOptions(member) {
      const kind = member.connection.kind;
      if (kind !== 'postgres' && kind !== 'mysql')
        throw new ConfigError(
          'PLAN_INVALID',
          `Member ${member.name}: engine azure-flexible needs a connection of kind postgres or mysql, not ${kind}.`,
          {
            hint: "Give the member the server's connection as the transaction layer uses it.",
            context: { member: member.name, key: 'connection.kind' },
          },
        );
      const parsed = azureFlexibleOptionsSchema.safeParse(member.options);
      if (!parsed.success)
        throw new ConfigError(
          'PLAN_INVALID',
          `Member ${member.name}: bad azure-flexible options: ${parsed.error.message}`,
          {
            hint: 'Known options: subscriptionId, resourceGroup, server, endpoint, caFile, port, minRetentionDays, pollMs, availableTimeoutMs, horizonLagMs, horizonTimeoutMs.',
            context: { member: member.name, key: 'options' },
          },
        );
      return Object.freeze({
        ...parsed.data,
        flavor: kind,
        port: parsed.data.port ?? (kind === 'mysql' ? 3306 : 5432),
      });
    },
    capabilities: () => MANAGED_CAPABILITIES,
    openBackup: (ctx, options) => new AzureFlexibleBackupSession(ctx, options, controlPlaneFor(options)),
    openRestore: (ctx, options) => new AzureFlexibleRestoreSession(ctx, options, controlPlaneFor(options)),
  };
}

/** The built-in `azure-flexible` kind, over Azure Resource Manager. */
export const azureFlexibleEngine = createAzureFlexibleEngine(
  (options) => new ArmFlexibleControlPlane(options.flavor, options),
);
