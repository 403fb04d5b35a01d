/**
 * The `rds` engine kind: Amazon RDS instances (PostgreSQL, MySQL, MariaDB) and Aurora clusters backed up by
 * the service's point-in-time recovery, with a `time` handle (clock-based, horizon wait). It reaches the
 * RDS API through an {@link RdsControlPlane} made per session by `controlPlaneFor`; the built-in kind uses
 * the AWS SDK adapter, whose `endpoint` option the lab points at src/lab/fakes/rds-control-plane-fake.ts.
 */
import { ConfigError } from '../../errors.ts';
import type { EngineKind } from '../contract.ts';
import { AwsRdsControlPlane } from './aws-control-plane.ts';
import type { RdsControlPlane } from './control-plane.ts';
import { rdsOptionsSchema, type RdsOptions } from './options.ts';
import { MANAGED_CAPABILITIES } from '../managed-restore.ts';
import { RdsPitrBackupSession } from './pitr/capture.ts';
import { RdsPitrRestoreSession } from './pitr/restore.ts';

export function createRdsEngine(
  controlPlaneFor: (options: RdsOptions) => RdsControlPlane,
): EngineKind<RdsOptions> {
  return {
    kind: 'rds',
    parseOptions(member) {
      if (member.connection.kind !== 'postgres' && member.connection.kind !== 'mysql')
        throw new ConfigError(
          'PLAN_INVALID',
          `Member ${member.name}: engine rds needs a connection of kind postgres or mysql (the instance's endpoint), not ${member.connection.kind}.`,
          {
            hint: 'Give the member the connection the transaction layer uses for this database.',
            context: { member: member.name, key: 'connection.kind' },
          },
        );
      const parsed = rdsOptionsSchema.safeParse(member.options);
      if (!parsed.success)
        throw new ConfigError(
          'PLAN_INVALID',
          `Member ${member.name}: bad rds options: ${parsed.error.message}`,
          {
            hint: 'Known options: region, endpoint, instance | cluster, minRetentionDays, pollMs, availableTimeoutMs, horizonTimeoutMs.',
            context: { member: member.name, key: 'options' },
          },
        );
      return Object.freeze(parsed.data);
    },
    capabilities: () => MANAGED_CAPABILITIES,
    openBackup: (ctx, options) => new RdsPitrBackupSession(ctx, options, controlPlaneFor(options)),
    openRestore: (ctx, options) => new RdsPitrRestoreSession(ctx, options, controlPlaneFor(options)),
  };
}

/** The built-in `rds` kind, over the AWS SDK (the member's region, or its endpoint override). */
export const rdsEngine = createRdsEngine((options) => new AwsRdsControlPlane(options));
