/**
 * A FAKE DynamoDB control plane (PITR, restores, Application Auto Scaling, the service clock) in front of a
 * real dynalite, which implements only the data plane. What it simulates, exactly:
 *
 * - A write log. Clients talk to {@link DynamoPitrFake.endpoint}, an HTTP proxy to dynalite. Every
 *   successful `PutItem` / `UpdateItem` / `DeleteItem` / `BatchWriteItem` is followed, BEFORE the client
 *   gets its answer, by a consistent `GetItem` of each written key, logged as (fake-clock time, item or
 *   absent). Writes to one key pass the proxy one at a time, so the log of a key is in write order. A client
 *   that saw a write acknowledged therefore knows it is logged with a time earlier than its acknowledgement.
 * - `enablePitr` (UpdateContinuousBackups): logs every item of the table at that time (the baseline); the
 *   earliest restorable time is then, the latest is the fake clock minus `lagMs` (AWS's lags ~5 min).
 * - `restoreTableToPointInTime`: the target must not exist, PITR must be on for the source, the time must be
 *   inside [earliest, latest]; it creates the target with the source's key schema and billing mode and
 *   writes, for every key, its latest logged state at or before the time. The new table has PITR off and
 *   no auto-scaling, and reads as `CREATING` for `creatingMs`.
 * - Application Auto Scaling: scalable targets and policies per table, kept in memory, dropped with the table.
 * - The service clock: `Date.now() + skewMs` (skew settable), 1 ms resolution. Log times use this clock.
 *
 * Not simulated: TTL, streams, tags, GSIs, restores of deleted tables, `TransactWriteItems` (dynalite lacks
 * it), provisioned-throughput enforcement, and AWS's error messages (errors are plain Errors).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  ResourceNotFoundException,
  ScanCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import type {
  DynamoControlPlane,
  PitrStatus,
  ScalableTarget,
  ScalingPolicy,
  TableDescription,
} from '../../engines/dynamodb/control-plane.ts';

export interface DynamoPitrFakeOptions {
  /** The dynalite endpoint (the real data plane). */
  readonly dataEndpoint: string;
  readonly region: string;
  /** Service clock minus ours, ms. */
  readonly skewMs?: number;
  /** How far the latest restorable time trails the service clock. Default 1 000 ms. */
  readonly lagMs?: number;
  /** How long a restored table reads CREATING. Default 200 ms. */
  readonly creatingMs?: number;
}

type Item = Record<string, AttributeValue>;
interface LogEntry {
  readonly atMs: number;
  readonly key: string;
  readonly item: Item | undefined;
}

const WRITE_ACTIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);

export class DynamoPitrFake implements DynamoControlPlane {
  skewMs: number;
  readonly lagMs: number;
  readonly creatingMs: number;
  /** Every control-plane call, in order (tests assert on the dance). */
  readonly calls: string[] = [];
  private readonly client: DynamoDBClient;
  private readonly log = new Map<string, LogEntry[]>();
  private readonly pitr = new Map<string, number>();
  private readonly creatingUntil = new Map<string, number>();
  private readonly targets = new Map<string, ScalableTarget[]>();
  private readonly policies = new Map<string, ScalingPolicy[]>();
  private readonly keyLocks = new Map<string, Promise<unknown>>();
  private readonly keySchemas = new Map<string, string[]>();
  private server: Server | undefined;
  endpoint = '';

  private constructor(private readonly options: DynamoPitrFakeOptions) {
    this.skewMs = options.skewMs ?? 0;
    this.lagMs = options.lagMs ?? 1_000;
    this.creatingMs = options.creatingMs ?? 200;
    this.client = new DynamoDBClient({
      region: options.region,
      endpoint: options.dataEndpoint,
      credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
    });
  }

  static async start(options: DynamoPitrFakeOptions): Promise<DynamoPitrFake> {
    const fake = new DynamoPitrFake(options);
    fake.server = createServer((req, res) => void fake.proxy(req, res));
    await new Promise<void>((resolve) => fake.server?.listen(0, '127.0.0.1', () => resolve()));
    fake.endpoint = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  now(): number {
    return Date.now() + this.skewMs;
  }

  async listTables(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let start: string | undefined;
    do {
      const out = await this.client.send(
        new ListTablesCommand({ ...(start === undefined ? {} : { ExclusiveStartTableName: start }) }),
      );
      names.push(...(out.TableNames ?? []));
      start = out.LastEvaluatedTableName;
    } while (start !== undefined);
    return names.filter((n) => n.startsWith(prefix));
  }

  async describeTable(table: string): Promise<TableDescription | undefined> {
    try {
      const out = await this.client.send(new DescribeTableCommand({ TableName: table }));
      const t = out.Table;
      const creating = (this.creatingUntil.get(table) ?? 0) > Date.now();
      return {
        name: table,
        status: creating ? 'CREATING' : ((t?.TableStatus ?? 'ACTIVE') as TableDescription['status']),
        billingMode:
          t?.BillingModeSummary?.BillingMode === 'PAY_PER_REQUEST' ? 'PAY_PER_REQUEST' : 'PROVISIONED',
        ...(t?.ProvisionedThroughput?.ReadCapacityUnits
          ? { readCapacity: t.ProvisionedThroughput.ReadCapacityUnits }
          : {}),
        ...(t?.ProvisionedThroughput?.WriteCapacityUnits
          ? { writeCapacity: t.ProvisionedThroughput.WriteCapacityUnits }
          : {}),
      };
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  async deleteTable(table: string): Promise<void> {
    this.calls.push(`DeleteTable ${table}`);
    await this.client.send(new DeleteTableCommand({ TableName: table }));
    for (const map of [this.log, this.pitr, this.targets, this.policies, this.keySchemas, this.creatingUntil])
      map.delete(table);
  }

  describeContinuousBackups(table: string): Promise<PitrStatus> {
    const since = this.pitr.get(table);
    if (since === undefined) return Promise.resolve({ enabled: false });
    return Promise.resolve({
      enabled: true,
      earliestRestorableMs: since,
      latestRestorableMs: Math.max(since, this.now() - this.lagMs),
    });
  }

  async enablePitr(table: string): Promise<void> {
    this.calls.push(`UpdateContinuousBackups ${table} enabled`);
    if (this.pitr.has(table)) return;
    const keys = await this.keyNames(table);
    const at = this.now();
    const entries: LogEntry[] = [];
    for (const item of await this.scanAll(table)) entries.push({ atMs: at, key: keyId(item, keys), item });
    this.log.set(table, entries);
    this.pitr.set(table, at);
  }

  async restoreTableToPointInTime(source: string, target: string, atMs: number): Promise<void> {
    this.calls.push(`RestoreTableToPointInTime ${source} -> ${target} @${atMs}`);
    if ((await this.describeTable(target)) !== undefined)
      throw new Error(`TableAlreadyExistsException: ${target}`);
    const status = await this.describeContinuousBackups(source);
    if (!status.enabled)
      throw new Error(`PointInTimeRecoveryUnavailableException: PITR is not enabled on ${source}`);
    if (atMs < (status.earliestRestorableMs ?? 0) || atMs > (status.latestRestorableMs ?? 0)) {
      throw new Error(
        `InvalidRestoreTimeException: ${atMs} is outside [${status.earliestRestorableMs}, ${status.latestRestorableMs}] for ${source}`,
      );
    }
    const described = await this.client.send(new DescribeTableCommand({ TableName: source }));
    const t = described.Table;
    await this.client.send(
      new CreateTableCommand({
        TableName: target,
        KeySchema: t?.KeySchema,
        AttributeDefinitions: t?.AttributeDefinitions,
        ...(t?.BillingModeSummary?.BillingMode === 'PAY_PER_REQUEST'
          ? { BillingMode: 'PAY_PER_REQUEST' }
          : {
              ProvisionedThroughput: {
                ReadCapacityUnits: t?.ProvisionedThroughput?.ReadCapacityUnits ?? 5,
                WriteCapacityUnits: t?.ProvisionedThroughput?.WriteCapacityUnits ?? 5,
              },
            }),
      }),
    );
    await this.dataActive(target);
    this.creatingUntil.set(target, Date.now() + this.creatingMs);
    const state = new Map<string, Item | undefined>();
    for (const entry of this.log.get(source) ?? []) if (entry.atMs <= atMs) state.set(entry.key, entry.item);
    for (const item of state.values())
      if (item !== undefined) await this.client.send(new PutItemCommand({ TableName: target, Item: item }));
  }

  async copyTable(source: string, target: string): Promise<void> {
    this.calls.push(`CopyTable ${source} -> ${target}`);
    if ((await this.describeTable(target)) !== undefined)
      throw new Error(`ResourceInUseException: ${target}`);
    const t = (await this.client.send(new DescribeTableCommand({ TableName: source }))).Table;
    await this.client.send(
      new CreateTableCommand({
        TableName: target,
        KeySchema: t?.KeySchema,
        AttributeDefinitions: t?.AttributeDefinitions,
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await this.dataActive(target);
    for (const item of await this.scanAll(source))
      await this.client.send(new PutItemCommand({ TableName: target, Item: item }));
  }

  describeScalableTargets(table: string): Promise<ScalableTarget[]> {
    return Promise.resolve([...(this.targets.get(table) ?? [])]);
  }

  describeScalingPolicies(table: string): Promise<ScalingPolicy[]> {
    return Promise.resolve([...(this.policies.get(table) ?? [])]);
  }

  registerScalableTarget(table: string, target: ScalableTarget): Promise<void> {
    this.calls.push(`RegisterScalableTarget ${table} ${target.dimension}`);
    this.targets.set(table, [
      ...(this.targets.get(table) ?? []).filter((t) => t.dimension !== target.dimension),
      target,
    ]);
    return Promise.resolve();
  }

  putScalingPolicy(table: string, policy: ScalingPolicy): Promise<void> {
    this.calls.push(`PutScalingPolicy ${table} ${policy.name}`);
    this.policies.set(table, [
      ...(this.policies.get(table) ?? []).filter((p) => p.name !== policy.name),
      policy,
    ]);
    return Promise.resolve();
  }

  serviceTime(): Promise<{ nowMs: number; resolutionMs: number }> {
    return Promise.resolve({ nowMs: this.now(), resolutionMs: 1 });
  }

  /** Stops the proxy; the fake's state stays readable. (Engines call this; tests call {@link destroy}.) */
  close(): Promise<void> {
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.client.destroy();
  }

  private async proxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const action =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    try {
      if (!WRITE_ACTIONS.has(action)) {
        await this.forward(req, body, res);
        return;
      }
      const written = await this.writtenKeys(
        action,
        JSON.parse(body.toString('utf8')) as Record<string, unknown>,
      );
      // One write per key at a time, so each key's log is in write order.
      await this.withKeyLocks(
        written.map((w) => `${w.table}\u0000${JSON.stringify(w.key)}`),
        async () => {
          const answer = await this.call(req, body);
          if (answer.status < 300) {
            for (const w of written) {
              const out = await this.client.send(
                new GetItemCommand({ TableName: w.table, Key: w.key, ConsistentRead: true }),
              );
              const keys = await this.keyNames(w.table);
              if (this.pitr.has(w.table))
                this.log.get(w.table)?.push({ atMs: this.now(), key: keyId(w.key, keys), item: out.Item });
            }
          }
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        },
      );
    } catch (error) {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(error));
    }
  }

  private async writtenKeys(
    action: string,
    data: Record<string, unknown>,
  ): Promise<{ table: string; key: Item }[]> {
    if (action === 'BatchWriteItem') {
      const out: { table: string; key: Item }[] = [];
      for (const [table, requests] of Object.entries(
        (data.RequestItems ?? {}) as Record<
          string,
          { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]
        >,
      )) {
        const keys = await this.keyNames(table);
        for (const r of requests)
          out.push({ table, key: pickKey(r.PutRequest?.Item ?? r.DeleteRequest?.Key ?? {}, keys) });
      }
      return out;
    }
    const table = String(data.TableName);
    const keys = await this.keyNames(table);
    return [{ table, key: pickKey((action === 'PutItem' ? data.Item : data.Key) as Item, keys) }];
  }

  private async withKeyLocks<T>(ids: readonly string[], fn: () => Promise<T>): Promise<T> {
    const before = Promise.all(ids.map((id) => this.keyLocks.get(id) ?? Promise.resolve()));
    const run = before.then(fn, fn);
    const settled = run.catch(() => undefined);
    for (const id of ids) this.keyLocks.set(id, settled);
    try {
      return await run;
    } finally {
      for (const id of ids) if (this.keyLocks.get(id) === settled) this.keyLocks.delete(id);
    }
  }

  private async forward(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const answer = await this.call(req, body);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }

  private call(
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    const url = new URL(this.options.dataEndpoint);
    return new Promise((resolve, reject) => {
      const out = request(
        {
          host: url.hostname,
          port: url.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: url.host },
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (d: Buffer) => parts.push(d));
          answer.on('end', () =>
            resolve({
              status: answer.statusCode ?? 500,
              headers: answer.headers as Record<string, string | string[]>,
              body: Buffer.concat(parts),
            }),
          );
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  }

  /** dynalite creates tables asynchronously even with createTableMs 0: writes before ACTIVE are refused. */
  private async dataActive(table: string): Promise<void> {
    while (
      (await this.client.send(new DescribeTableCommand({ TableName: table }))).Table?.TableStatus !== 'ACTIVE'
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private async keyNames(table: string): Promise<string[]> {
    const cached = this.keySchemas.get(table);
    if (cached !== undefined) return cached;
    const out = await this.client.send(new DescribeTableCommand({ TableName: table }));
    const keys = (out.Table?.KeySchema ?? []).map((k) => String(k.AttributeName));
    this.keySchemas.set(table, keys);
    return keys;
  }

  private async scanAll(table: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.client.send(
        new ScanCommand({
          TableName: table,
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }
}

/** The key attributes of a request's item, from the wire's JSON (B is base64 text there) to the SDK's form. */
function pickKey(item: Item, keys: readonly string[]): Item {
  const out: Item = {};
  for (const k of keys) {
    const v = item[k] as { B?: unknown; S?: string; N?: string } | undefined;
    if (v === undefined) continue;
    out[k] = typeof v.B === 'string' ? { B: Buffer.from(v.B, 'base64') } : (v as AttributeValue);
  }
  return out;
}

function keyId(item: Item, keys: readonly string[]): string {
  return JSON.stringify(
    keys.map((k) => {
      const v = item[k];
      return v?.B !== undefined ? Buffer.from(v.B).toString('base64') : (v?.S ?? v?.N ?? '');
    }),
  );
}
