/**
 * The `cassandra` engine kind: per-node snapshots with one tag taken inside the pause through the node
 * agents (`stillpoint agent`), uploaded differentially after the unpause (handle kind `snapshot`); restore by
 * `nodetool import` into new keyspaces on a live cluster, or (target `{ mode: cluster }`) the runbook's
 * full-cluster restore in place. See docs/backup-and-restore.md (Cassandra).
 */
import { ConfigError } from '../../errors.ts';
import type { EngineKind } from '../contract.ts';
import { cassandraOptionsSchema, isClusterTarget, type CassandraOptions } from './options.ts';
import { CassandraClusterRestoreSession } from './snapshot/cluster-restore.ts';
import { CASSANDRA_CAPABILITIES, CassandraSnapshotBackupSession } from './snapshot/capture.ts';
import { CassandraImportRestoreSession } from './snapshot/restore.ts';

export const cassandraEngine: EngineKind<CassandraOptions> = {
  kind: 'cassandra',
  parseOptions(member) {
    if (member.connection.kind !== 'cassandra') {
      throw new ConfigError(
        'PLAN_INVALID',
        `Member ${member.name}: engine cassandra needs a connection of kind cassandra, not ${member.connection.kind}.`,
        {
          hint: 'Give the member a connection { kind: cassandra, contactPoints, port, localDataCenter }.',
          context: { member: member.name, key: 'connection.kind' },
        },
      );
    }
    const parsed = cassandraOptionsSchema.safeParse(member.options);
    if (!parsed.success) {
      throw new ConfigError(
        'PLAN_INVALID',
        `Member ${member.name}: bad cassandra options: ${parsed.error.message}`,
        {
          hint: 'Known options: agents: [{ url, token | tokenEnv | tokenFile, caFile }] (one per node), agentDeadlines.',
          context: { member: member.name, key: 'options' },
        },
      );
    }
    return Object.freeze(parsed.data);
  },
  capabilities: () => CASSANDRA_CAPABILITIES,
  openBackup: (ctx, options) => new CassandraSnapshotBackupSession(ctx, options),
  openRestore: (ctx, options) =>
    isClusterTarget(ctx.target)
      ? new CassandraClusterRestoreSession(ctx, options)
      : new CassandraImportRestoreSession(ctx, options),
};
