/**
 * {@link RdsControlPlane} over the real AWS SDK (@aws-sdk/client-rds, the AWS Query protocol). The member's
 * `endpoint` option points it elsewhere (a VPC endpoint, or the lab's fake); credentials come from the
 * SDK's default chain unless `dummyCredentials` (local endpoints only).
 */
import {
  CreateDBInstanceCommand,
  DescribeAccountAttributesCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  RDSClient,
  RestoreDBClusterToPointInTimeCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type DBCluster,
  type DBInstance,
  type Tag,
} from '@aws-sdk/client-rds';
import { EngineError } from '../../errors.ts';
import type { PointInTimeRestoreRequest, RdsControlPlane, RdsResource, RdsTag } from './control-plane.ts';

export interface AwsRdsSettings {
  readonly region: string;
  readonly endpoint?: string;
  readonly dummyCredentials?: boolean;
}

const NOT_FOUND = new Set([
  'DBInstanceNotFoundFault',
  'DBInstanceNotFound',
  'DBClusterNotFoundFault',
  'DBClusterNotFound',
]);
const notFound = (error: unknown): boolean => NOT_FOUND.has((error as { name?: string }).name ?? '');

const tagsOf = (list: readonly Tag[] | undefined): RdsTag[] =>
  (list ?? []).map((t) => ({ key: t.Key ?? '', value: t.Value ?? '' }));
const awsTags = (tags: readonly RdsTag[]): Tag[] => tags.map((t) => ({ Key: t.key, Value: t.value }));
const ms = (d: Date | undefined): number | undefined => (d === undefined ? undefined : d.getTime());

function instanceOf(i: DBInstance): RdsResource {
  return {
    id: i.DBInstanceIdentifier ?? '',
    status: i.DBInstanceStatus ?? 'unknown',
    engine: i.Engine ?? '',
    ...(i.Endpoint?.Address === undefined
      ? {}
      : { endpoint: { host: i.Endpoint.Address, port: i.Endpoint.Port ?? 0 } }),
    backupRetentionDays: i.BackupRetentionPeriod ?? 0,
    ...(i.LatestRestorableTime === undefined ? {} : { latestRestorableMs: ms(i.LatestRestorableTime) }),
    ...(i.DBInstanceClass === undefined ? {} : { instanceClass: i.DBInstanceClass }),
    ...(i.DBParameterGroups?.[0]?.DBParameterGroupName === undefined
      ? {}
      : { parameterGroup: i.DBParameterGroups[0].DBParameterGroupName }),
    ...(i.DBSubnetGroup?.DBSubnetGroupName === undefined
      ? {}
      : { subnetGroup: i.DBSubnetGroup.DBSubnetGroupName }),
    securityGroupIds: (i.VpcSecurityGroups ?? []).flatMap((g) => g.VpcSecurityGroupId ?? []),
    tags: tagsOf(i.TagList),
  };
}

function clusterOf(c: DBCluster): RdsResource {
  return {
    id: c.DBClusterIdentifier ?? '',
    status: c.Status ?? 'unknown',
    engine: c.Engine ?? '',
    ...(c.Endpoint === undefined ? {} : { endpoint: { host: c.Endpoint, port: c.Port ?? 0 } }),
    backupRetentionDays: c.BackupRetentionPeriod ?? 0,
    ...(c.LatestRestorableTime === undefined ? {} : { latestRestorableMs: ms(c.LatestRestorableTime) }),
    ...(c.EarliestRestorableTime === undefined ? {} : { earliestRestorableMs: ms(c.EarliestRestorableTime) }),
    ...(c.DBClusterParameterGroup === undefined ? {} : { parameterGroup: c.DBClusterParameterGroup }),
    ...(c.DBSubnetGroup === undefined ? {} : { subnetGroup: c.DBSubnetGroup }),
    securityGroupIds: (c.VpcSecurityGroups ?? []).flatMap((g) => g.VpcSecurityGroupId ?? []),
    tags: tagsOf(c.TagList),
  };
}

export class AwsRdsControlPlane implements RdsControlPlane {
  private readonly rds: RDSClient;

  constructor(settings: AwsRdsSettings) {
    this.rds = new RDSClient({
      region: settings.region,
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      ...(settings.dummyCredentials === true
        ? { credentials: { accessKeyId: 'stillpoint-local', secretAccessKey: 'stillpoint-local' } }
        : {}),
    });
  }

  async describeInstance(id: string): Promise<RdsResource | undefined> {
    try {
      const out = await this.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
      const found = out.DBInstances?.[0];
      return found === undefined ? undefined : instanceOf(found);
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  async describeCluster(id: string): Promise<RdsResource | undefined> {
    try {
      const out = await this.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
      const found = out.DBClusters?.[0];
      return found === undefined ? undefined : clusterOf(found);
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  async restoreInstanceToTime(r: PointInTimeRestoreRequest): Promise<void> {
    await this.rds.send(
      new RestoreDBInstanceToPointInTimeCommand({
        SourceDBInstanceIdentifier: r.source,
        TargetDBInstanceIdentifier: r.target,
        RestoreTime: new Date(r.atMs),
        ...(r.instanceClass === undefined ? {} : { DBInstanceClass: r.instanceClass }),
        ...(r.parameterGroup === undefined ? {} : { DBParameterGroupName: r.parameterGroup }),
        ...(r.subnetGroup === undefined ? {} : { DBSubnetGroupName: r.subnetGroup }),
        VpcSecurityGroupIds: [...r.securityGroupIds],
        Tags: awsTags(r.tags),
      }),
    );
  }

  async restoreClusterToTime(r: PointInTimeRestoreRequest): Promise<void> {
    await this.rds.send(
      new RestoreDBClusterToPointInTimeCommand({
        SourceDBClusterIdentifier: r.source,
        DBClusterIdentifier: r.target,
        RestoreType: 'full-copy',
        RestoreToTime: new Date(r.atMs),
        ...(r.parameterGroup === undefined ? {} : { DBClusterParameterGroupName: r.parameterGroup }),
        ...(r.subnetGroup === undefined ? {} : { DBSubnetGroupName: r.subnetGroup }),
        VpcSecurityGroupIds: [...r.securityGroupIds],
        Tags: awsTags(r.tags),
      }),
    );
  }

  async createClusterInstance(r: {
    cluster: string;
    instance: string;
    instanceClass: string;
    engine: string;
    tags: readonly RdsTag[];
  }): Promise<void> {
    await this.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: r.instance,
        DBClusterIdentifier: r.cluster,
        DBInstanceClass: r.instanceClass,
        Engine: r.engine,
        Tags: awsTags(r.tags),
      }),
    );
  }

  async renameInstance(id: string, newId: string): Promise<void> {
    await this.rds.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: id,
        NewDBInstanceIdentifier: newId,
        ApplyImmediately: true,
      }),
    );
  }

  async serviceTime(): Promise<{ nowMs: number; resolutionMs: number }> {
    const command = new DescribeAccountAttributesCommand({});
    let date: string | undefined;
    command.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        date = ((result.response as { headers?: Record<string, string> }).headers ?? {}).date;
        return result;
      },
      { step: 'deserialize', name: 'stillpointServiceDate' },
    );
    await this.rds.send(command);
    const nowMs = Date.parse(date ?? '');
    if (!Number.isFinite(nowMs)) {
      throw new EngineError('CLOCK_UNMEASURABLE', 'RDS answered without a usable Date header.', {
        hint: 'Check the endpoint option: it must be the RDS API or a compatible server.',
      });
    }
    // The header names the start of a whole second: resolution 1 s.
    return { nowMs, resolutionMs: 1_000 };
  }

  close(): Promise<void> {
    this.rds.destroy();
    return Promise.resolve();
  }
}
