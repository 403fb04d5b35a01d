/**
 * {@link DynamoControlPlane} over the AWS SDK v3: DynamoDB for tables, PITR and restores, Application Auto
 * Scaling for the table's read/write targets and target-tracking policies. The service clock is the HTTP
 * `Date` header (1 s resolution). In CI it runs unchanged against the wire-protocol fake
 * (src/lab/fakes/dynamodb-pitr-fake.ts); against AWS when an operator points a plan at it (IAM permissions:
 * docs/backup-and-restore.md). A connection `endpoint` serves both services (as LocalStack and the fake do);
 * without one each client uses its AWS regional endpoint.
 */
import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  ListTagsOfResourceCommand,
  PutItemCommand,
  ResourceNotFoundException,
  RestoreTableToPointInTimeCommand,
  ScanCommand,
  TagResourceCommand,
  UpdateContinuousBackupsCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  waitUntilTableNotExists,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { EngineError } from '../../errors.ts';
import type { StorageConfig } from '../../txn/contract.ts';
import type {
  DynamoControlPlane,
  PitrStatus,
  ScalableTarget,
  ScalingPolicy,
  StreamSetting,
  TableDescription,
  TableSettings,
  Tag,
} from './control-plane.ts';

/** Longest wait for a table to become ACTIVE or to be gone (seconds; the SDK waiter polls with backoff). */
const TABLE_WAIT_S = 15 * 60;

type DynamoConnection = Extract<StorageConfig, { kind: 'dynamodb' }>;
const resourceId = (table: string) => `table/${table}`;

export class AwsDynamoControlPlane implements DynamoControlPlane {
  private readonly ddb: DynamoDBClient;
  private readonly scaling: ApplicationAutoScalingClient;

  constructor(connection: DynamoConnection) {
    const credentials =
      connection.dummyCredentials === true
        ? { credentials: { accessKeyId: 'stillpoint-local', secretAccessKey: 'stillpoint-local' } }
        : {};
    this.ddb = new DynamoDBClient({
      region: connection.region,
      ...(connection.endpoint === undefined ? {} : { endpoint: connection.endpoint }),
      ...credentials,
    });
    this.scaling = new ApplicationAutoScalingClient({
      region: connection.region,
      ...(connection.endpoint === undefined ? {} : { endpoint: connection.endpoint }),
      ...credentials,
    });
  }

  async listTables(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let start: string | undefined;
    do {
      const out = await this.ddb.send(
        new ListTablesCommand({ ...(start === undefined ? {} : { ExclusiveStartTableName: start }) }),
      );
      names.push(...(out.TableNames ?? []));
      start = out.LastEvaluatedTableName;
    } while (start !== undefined);
    return names.filter((n) => n.startsWith(prefix));
  }

  async describeTable(table: string): Promise<TableDescription | undefined> {
    try {
      const t = (await this.ddb.send(new DescribeTableCommand({ TableName: table }))).Table;
      return {
        name: table,
        status: (t?.TableStatus ?? 'ACTIVE') as TableDescription['status'],
        billingMode:
          t?.BillingModeSummary?.BillingMode === 'PAY_PER_REQUEST' ? 'PAY_PER_REQUEST' : 'PROVISIONED',
        ...(t?.ProvisionedThroughput?.ReadCapacityUnits
          ? { readCapacity: t.ProvisionedThroughput.ReadCapacityUnits }
          : {}),
        ...(t?.ProvisionedThroughput?.WriteCapacityUnits
          ? { writeCapacity: t.ProvisionedThroughput.WriteCapacityUnits }
          : {}),
        arn: t?.TableArn ?? '',
        ...(t?.StreamSpecification?.StreamEnabled === true
          ? { stream: { viewType: t.StreamSpecification.StreamViewType ?? 'NEW_AND_OLD_IMAGES' } }
          : {}),
      };
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  async deleteTable(table: string): Promise<void> {
    await this.ddb.send(new DeleteTableCommand({ TableName: table }));
    // DeleteTable only starts the deletion: the restore dance reuses the name next, so wait until it is gone.
    await waitUntilTableNotExists(
      { client: this.ddb, maxWaitTime: TABLE_WAIT_S, minDelay: 1, maxDelay: 20 },
      { TableName: table },
    );
  }

  async describeContinuousBackups(table: string): Promise<PitrStatus> {
    const out = await this.ddb.send(new DescribeContinuousBackupsCommand({ TableName: table }));
    const pitr = out.ContinuousBackupsDescription?.PointInTimeRecoveryDescription;
    if (pitr?.PointInTimeRecoveryStatus !== 'ENABLED') return { enabled: false };
    return {
      enabled: true,
      ...(pitr.EarliestRestorableDateTime
        ? { earliestRestorableMs: pitr.EarliestRestorableDateTime.getTime() }
        : {}),
      ...(pitr.LatestRestorableDateTime
        ? { latestRestorableMs: pitr.LatestRestorableDateTime.getTime() }
        : {}),
    };
  }

  async enablePitr(table: string): Promise<void> {
    await this.ddb.send(
      new UpdateContinuousBackupsCommand({
        TableName: table,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    );
  }

  async restoreTableToPointInTime(source: string, target: string, atMs: number): Promise<void> {
    await this.ddb.send(
      new RestoreTableToPointInTimeCommand({
        SourceTableName: source,
        TargetTableName: target,
        RestoreDateTime: new Date(atMs),
      }),
    );
  }

  async copyTable(source: string, target: string): Promise<void> {
    const t = (await this.ddb.send(new DescribeTableCommand({ TableName: source }))).Table;
    const provisioned = t?.BillingModeSummary?.BillingMode !== 'PAY_PER_REQUEST';
    await this.ddb.send(
      new CreateTableCommand({
        TableName: target,
        KeySchema: t?.KeySchema,
        AttributeDefinitions: t?.AttributeDefinitions,
        ...(provisioned
          ? {
              BillingMode: 'PROVISIONED',
              ProvisionedThroughput: {
                ReadCapacityUnits: t?.ProvisionedThroughput?.ReadCapacityUnits || 1,
                WriteCapacityUnits: t?.ProvisionedThroughput?.WriteCapacityUnits || 1,
              },
            }
          : { BillingMode: 'PAY_PER_REQUEST' }),
      }),
    );
    await waitUntilTableExists(
      { client: this.ddb, maxWaitTime: TABLE_WAIT_S, minDelay: 1, maxDelay: 20 },
      { TableName: target },
    );
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.ddb.send(
        new ScanCommand({
          TableName: source,
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      for (const item of out.Items ?? [])
        await this.ddb.send(new PutItemCommand({ TableName: target, Item: item }));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
  }

  async describeTimeToLive(table: string): Promise<string | undefined> {
    const out = await this.ddb.send(new DescribeTimeToLiveCommand({ TableName: table }));
    const d = out.TimeToLiveDescription;
    return d?.TimeToLiveStatus === 'ENABLED' || d?.TimeToLiveStatus === 'ENABLING'
      ? d.AttributeName
      : undefined;
  }

  async enableTimeToLive(table: string, attribute: string): Promise<void> {
    await this.ddb.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { Enabled: true, AttributeName: attribute },
      }),
    );
  }

  async listTags(table: string): Promise<Tag[]> {
    const arn = await this.arnOf(table);
    const tags: Tag[] = [];
    let token: string | undefined;
    do {
      const out = await this.ddb.send(
        new ListTagsOfResourceCommand({
          ResourceArn: arn,
          ...(token === undefined ? {} : { NextToken: token }),
        }),
      );
      for (const t of out.Tags ?? []) tags.push({ key: t.Key ?? '', value: t.Value ?? '' });
      token = out.NextToken;
    } while (token !== undefined);
    return tags;
  }

  async tagTable(table: string, tags: readonly Tag[]): Promise<void> {
    if (tags.length === 0) return;
    await this.ddb.send(
      new TagResourceCommand({
        ResourceArn: await this.arnOf(table),
        Tags: tags.map((t) => ({ Key: t.key, Value: t.value })),
      }),
    );
  }

  async enableStream(table: string, stream: StreamSetting): Promise<void> {
    await this.ddb.send(
      new UpdateTableCommand({
        TableName: table,
        StreamSpecification: { StreamEnabled: true, StreamViewType: stream.viewType },
      }),
    );
  }

  async updateThroughput(table: string, settings: TableSettings): Promise<void> {
    const now = await this.describeTable(table);
    if (now === undefined) return;
    if (settings.billingMode === 'PAY_PER_REQUEST') {
      if (now.billingMode !== 'PAY_PER_REQUEST')
        await this.ddb.send(new UpdateTableCommand({ TableName: table, BillingMode: 'PAY_PER_REQUEST' }));
      return;
    }
    const read = settings.readCapacity ?? now.readCapacity ?? 1;
    const write = settings.writeCapacity ?? now.writeCapacity ?? 1;
    if (now.billingMode === 'PROVISIONED' && now.readCapacity === read && now.writeCapacity === write) return;
    await this.ddb.send(
      new UpdateTableCommand({
        TableName: table,
        BillingMode: 'PROVISIONED',
        ProvisionedThroughput: { ReadCapacityUnits: read, WriteCapacityUnits: write },
      }),
    );
  }

  private async arnOf(table: string): Promise<string> {
    const arn = (await this.describeTable(table))?.arn;
    if (!arn)
      throw new EngineError('DYNAMODB_TABLE_NOT_ACTIVE', `DynamoDB table ${table} does not exist.`, {
        context: { table },
      });
    return arn;
  }

  async describeScalableTargets(table: string): Promise<ScalableTarget[]> {
    const out = await this.scaling.send(
      new DescribeScalableTargetsCommand({ ServiceNamespace: 'dynamodb', ResourceIds: [resourceId(table)] }),
    );
    return (out.ScalableTargets ?? []).map((t) => ({
      dimension: t.ScalableDimension as ScalableTarget['dimension'],
      min: t.MinCapacity ?? 1,
      max: t.MaxCapacity ?? 1,
    }));
  }

  async describeScalingPolicies(table: string): Promise<ScalingPolicy[]> {
    const out = await this.scaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: 'dynamodb', ResourceId: resourceId(table) }),
    );
    return (out.ScalingPolicies ?? []).map((p) => ({
      name: p.PolicyName ?? '',
      dimension: p.ScalableDimension as ScalableTarget['dimension'],
      targetValue: p.TargetTrackingScalingPolicyConfiguration?.TargetValue ?? 70,
    }));
  }

  async registerScalableTarget(table: string, target: ScalableTarget): Promise<void> {
    await this.scaling.send(
      new RegisterScalableTargetCommand({
        ServiceNamespace: 'dynamodb',
        ResourceId: resourceId(table),
        ScalableDimension: target.dimension,
        MinCapacity: target.min,
        MaxCapacity: target.max,
      }),
    );
  }

  async putScalingPolicy(table: string, policy: ScalingPolicy): Promise<void> {
    const metric = policy.dimension.includes('Read')
      ? 'DynamoDBReadCapacityUtilization'
      : 'DynamoDBWriteCapacityUtilization';
    await this.scaling.send(
      new PutScalingPolicyCommand({
        ServiceNamespace: 'dynamodb',
        ResourceId: resourceId(table),
        ScalableDimension: policy.dimension,
        PolicyName: policy.name,
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: policy.targetValue,
          PredefinedMetricSpecification: { PredefinedMetricType: metric },
        },
      }),
    );
  }

  async serviceTime(): Promise<{ nowMs: number; resolutionMs: number }> {
    const command = new ListTablesCommand({ Limit: 1 });
    let date: string | undefined;
    command.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        date = ((result.response as { headers?: Record<string, string> }).headers ?? {}).date;
        return result;
      },
      { step: 'deserialize', name: 'stillpointServiceDate' },
    );
    await this.ddb.send(command);
    const nowMs = Date.parse(date ?? '');
    if (!Number.isFinite(nowMs)) {
      throw new EngineError('CLOCK_UNMEASURABLE', 'DynamoDB answered without a usable Date header.', {
        hint: 'Check the endpoint: it must be DynamoDB or a compatible server.',
      });
    }
    // The header names the start of a whole second: resolution 1 s (measureClock adds half of it).
    return { nowMs, resolutionMs: 1_000 };
  }

  close(): Promise<void> {
    this.ddb.destroy();
    this.scaling.destroy();
    return Promise.resolve();
  }
}
