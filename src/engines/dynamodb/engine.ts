/**
 * The `dynamodb` engine kind: PITR backups with a `time` handle (clock-based, horizon wait) and the
 * restore dance. It reaches DynamoDB's control plane through a {@link DynamoControlPlane} made per session by
 * `controlPlaneFor`: the built-in kind uses the AWS SDK adapter against the connection's endpoint (AWS, or in
 * tests the wire-protocol fake src/lab/fakes/dynamodb-pitr-fake.ts over dynalite); tests inject failures by
 * wrapping that adapter.
 */
import { ConfigError } from '../../errors.ts';
import type { EngineKind, MemberSpec } from '../contract.ts';
import { AwsDynamoControlPlane } from './aws-control-plane.ts';
import type { DynamoControlPlane } from './control-plane.ts';
import { dynamoOptionsSchema, type DynamoOptions } from './options.ts';
import { DYNAMO_CAPABILITIES, DynamoPitrBackupSession } from './pitr/capture.ts';
import { DynamoPitrRestoreSession } from './pitr/restore.ts';

export function createDynamoEngine(
  controlPlaneFor: (member: MemberSpec) => DynamoControlPlane,
): EngineKind<DynamoOptions> {
  return {
    kind: 'dynamodb',
    parseOptions(member) {
      if (member.connection.kind !== 'dynamodb') {
        throw new ConfigError(
          'PLAN_INVALID',
          `Member ${member.name}: engine dynamodb needs a connection of kind dynamodb, not ${member.connection.kind}.`,
          {
            hint: 'Give the member a connection { kind: dynamodb, region, endpoint?, prefix? }.',
            context: { member: member.name, key: 'connection.kind' },
          },
        );
      }
      const parsed = dynamoOptionsSchema.safeParse(member.options);
      if (!parsed.success) {
        throw new ConfigError(
          'PLAN_INVALID',
          `Member ${member.name}: bad dynamodb options: ${parsed.error.message}`,
          {
            hint: 'Known options: enablePitr, pollMs, activeTimeoutMs, horizonTimeoutMs.',
            context: { member: member.name, key: 'options' },
          },
        );
      }
      return Object.freeze(parsed.data);
    },
    capabilities: () => DYNAMO_CAPABILITIES,
    openBackup: (ctx, options) => new DynamoPitrBackupSession(ctx, options, controlPlaneFor(ctx.member)),
    openRestore: (ctx, options) =>
      new DynamoPitrRestoreSession(ctx, options, controlPlaneFor(ctx.record.member)),
  };
}

/** The built-in `dynamodb` kind, over AWS (or any endpoint the connection names). */
export const dynamodbEngine = createDynamoEngine((member) => {
  if (member.connection.kind !== 'dynamodb')
    throw new ConfigError(
      'PLAN_INVALID',
      `Member ${member.name}: engine dynamodb needs a connection of kind dynamodb.`,
      { context: { member: member.name } },
    );
  return new AwsDynamoControlPlane(member.connection);
});
