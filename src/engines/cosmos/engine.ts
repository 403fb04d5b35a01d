/**
 * The `cosmos` engine kind: continuous-backup (point-in-time) backups with a `time` handle (clock-based,
 * horizon wait) and restores into a new account. It reaches Azure Resource Manager through a
 * {@link CosmosControlPlane} made per session by `controlPlaneFor`: the built-in kind uses
 * ./arm-control-plane.ts with DefaultAzureCredential; tests give the same adapter a test credential and the
 * fake's endpoint (src/lab/fakes/cosmos-management-fake.ts).
 */
import { ConfigError } from '../../errors.ts';
import type { EngineKind, MemberSpec } from '../contract.ts';
import { ArmCosmosControlPlane } from './arm-control-plane.ts';
import { COSMOS_CAPABILITIES, CosmosPitrBackupSession } from './pitr/capture.ts';
import type { CosmosControlPlane } from './control-plane.ts';
import { cosmosOptionsSchema, type CosmosOptions } from './options.ts';
import { CosmosPitrRestoreSession } from './pitr/restore.ts';

export function createCosmosEngine(
  controlPlaneFor: (member: MemberSpec, options: CosmosOptions) => CosmosControlPlane,
): EngineKind<CosmosOptions> {
  return {
    kind: 'cosmos',
    parseOptions(member) {
      if (member.connection.kind !== 'cosmos') {
        throw new ConfigError(
          'PLAN_INVALID',
          `Member ${member.name}: engine cosmos needs a connection of kind cosmos, not ${member.connection.kind}.`,
          {
            hint: 'Give the member a connection { kind: cosmos, endpoint, passwordEnv }.',
            context: { member: member.name, key: 'connection.kind' },
          },
        );
      }
      const parsed = cosmosOptionsSchema.safeParse(member.options);
      if (!parsed.success) {
        throw new ConfigError(
          'PLAN_INVALID',
          `Member ${member.name}: bad cosmos options: ${parsed.error.message}`,
          {
            hint: 'Required: subscriptionId, resourceGroup, account. Optional: managementEndpoint, managementCaFile, pollMs, restoreTimeoutMs, horizonTimeoutMs.',
            context: { member: member.name, key: 'options' },
          },
        );
      }
      return Object.freeze(parsed.data);
    },
    capabilities: () => COSMOS_CAPABILITIES,
    openBackup: (ctx, options) =>
      new CosmosPitrBackupSession(ctx, options, controlPlaneFor(ctx.member, options)),
    openRestore: (ctx, options) =>
      new CosmosPitrRestoreSession(ctx, options, controlPlaneFor(ctx.record.member, options)),
  };
}

/** The built-in `cosmos` kind, over Azure Resource Manager. */
export const cosmosEngine = createCosmosEngine(
  (_member, options) =>
    new ArmCosmosControlPlane({
      subscriptionId: options.subscriptionId,
      resourceGroup: options.resourceGroup,
      ...(options.managementEndpoint === undefined ? {} : { endpoint: options.managementEndpoint }),
      ...(options.managementCaFile === undefined ? {} : { caFile: options.managementCaFile }),
    }),
);
