/**
 * A FAKE DynamoDB control plane in front of a real dynalite (which implements only the data plane), served
 * over HTTP in the services' own wire protocols so the product's real adapter
 * (src/engines/dynamodb/aws-control-plane.ts, AWS SDK v3) runs against it unchanged: point the connection's
 * `endpoint` at {@link DynamoPitrFake.endpoint}. One endpoint answers both services, told apart by
 * `X-Amz-Target` (as LocalStack does):
 *
 * - `DynamoDB_20120810.*` (JSON 1.0): UpdateContinuousBackups, DescribeContinuousBackups,
 *   RestoreTableToPointInTime, TagResource, UntagResource, ListTagsOfResource, UpdateTimeToLive,
 *   DescribeTimeToLive are answered here; everything else is proxied to dynalite. CreateTable/UpdateTable
 *   with a StreamSpecification keep the stream setting here (dynalite has no streams) and DescribeTable
 *   answers carry it, and read `CREATING` for `creatingMs` after a restore.
 * - `AnyScaleFrontendService.*` (Application Auto Scaling, JSON 1.1): RegisterScalableTarget,
 *   PutScalingPolicy (refused without a registered target, as AWS does), DescribeScalableTargets,
 *   DescribeScalingPolicies, DeregisterScalableTarget.
 * - The service clock: every answer's HTTP `Date` header reads `Date.now() + skewMs` (skew settable) at
 *   AWS's 1 s resolution; nothing finer is exposed, as with AWS. The write log runs on the host clock and
 *   every time shown or asked is mapped with the current skew (as the RDS and Azure fakes do), as if the
 *   service clock had always been that far off: a log stamped with a clock set back (the skew fault's
 *   'behind', a kept trials group resetting it) would be ordered by a time that went backwards, and a
 *   restore would miss writes made before its time.
 *
 * The write log behind PITR: every successful PutItem / UpdateItem / DeleteItem / BatchWriteItem is
 * followed, BEFORE the client gets its answer, by a consistent GetItem of each written key, logged as
 * (host-clock time, item or absent). Writes to one key pass one at a time, so a key's log is in write order
 * and a write acknowledged to a client is logged at a time before its acknowledgement. Enabling PITR logs
 * every item of the table (the baseline); the earliest restorable time is then, the latest is the clock
 * minus `lagMs` (AWS's trails by ~5 min). A restore needs PITR on the source, a time inside that range and
 * an absent target; the new table keeps the key schema, billing mode and throughput, and — as on AWS —
 * comes back with PITR off, no tags, no TTL, no stream and no auto-scaling. Deleting a table drops its
 * fake state (PITR history, tags, TTL, stream, auto-scaling), as the console does.
 *
 * Not simulated: GSIs/LSIs, restores of deleted tables, TransactWriteItems (dynalite lacks it), throughput
 * enforcement, request signatures (not checked), AWS's exact error messages (types match, texts do not).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeAutoScaling } from './dynamodb-pitr-fake-scaling.ts';
import {
  dynaliteCall,
  dynaliteOk,
  epochSeconds,
  errorAnswer,
  forward,
  jsonAnswer,
  keyId,
  pickKey,
  tableOfArn,
  WireError,
  type WireAnswer,
  type WireItem,
} from './dynamodb-pitr-fake-wire.ts';

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

interface LogEntry {
  /** Host clock. */
  readonly atMs: number;
  readonly key: string;
  readonly item: WireItem | undefined;
}
type Json = Record<string, unknown>;

const DDB_JSON = 'application/x-amz-json-1.0';
const WRITE_ACTIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);
const CONTROL = new Set([
  'UpdateContinuousBackups',
  'DescribeContinuousBackups',
  'RestoreTableToPointInTime',
  'TagResource',
  'UntagResource',
  'ListTagsOfResource',
  'UpdateTimeToLive',
  'DescribeTimeToLive',
]);

export class DynamoPitrFake {
  skewMs: number;
  readonly lagMs: number;
  readonly creatingMs: number;
  /** Every control-plane call received (`Action table…`), in order: tests assert on the dance. */
  readonly calls: string[] = [];
  endpoint = '';
  private readonly log = new Map<string, LogEntry[]>();
  /** When PITR was enabled, host clock. */
  private readonly pitr = new Map<string, number>();
  private readonly creatingUntil = new Map<string, number>();
  private readonly tags = new Map<string, { Key: string; Value: string }[]>();
  private readonly ttl = new Map<string, string>();
  private readonly streams = new Map<string, Json>();
  private readonly keyLocks = new Map<string, Promise<unknown>>();
  private readonly keySchemas = new Map<string, string[]>();
  private readonly scaling = new FakeAutoScaling();
  private server: Server | undefined;

  private constructor(private readonly options: DynamoPitrFakeOptions) {
    this.skewMs = options.skewMs ?? 0;
    this.lagMs = options.lagMs ?? 1_000;
    this.creatingMs = options.creatingMs ?? 200;
  }

  static async start(options: DynamoPitrFakeOptions): Promise<DynamoPitrFake> {
    const fake = new DynamoPitrFake(options);
    fake.server = createServer((req, res) => void fake.serve(req, res));
    await new Promise<void>((resolve) => fake.server?.listen(0, '127.0.0.1', () => resolve()));
    fake.endpoint = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The service clock. */
  now(): number {
    return Date.now() + this.skewMs;
  }

  async destroy(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const [service = '', action = ''] = String(req.headers['x-amz-target'] ?? '').split('.');
    let answer: WireAnswer;
    try {
      answer = await this.route(service, action, req, body);
    } catch (error) {
      answer =
        error instanceof WireError
          ? errorAnswer(error, DDB_JSON)
          : errorAnswer(new WireError('InternalServerError', String(error), 500), DDB_JSON);
    }
    // The service clock, at the Date header's resolution (whole seconds), on every answer.
    const headers: Record<string, string | string[]> = { ...answer.headers };
    delete headers['content-length'];
    delete headers['transfer-encoding'];
    headers.date = new Date(this.now()).toUTCString();
    headers['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  }

  private async route(service: string, action: string, req: IncomingMessage, body: Buffer) {
    if (service === 'AnyScaleFrontendService') {
      this.calls.push(`${action}`);
      return this.scaling.handle(action, parse(body));
    }
    if (CONTROL.has(action)) {
      const data = parse(body);
      this.calls.push(`${action} ${String(data.TableName ?? data.SourceTableName ?? data.ResourceArn)}`);
      return jsonAnswer(await this.control(action, data), DDB_JSON);
    }
    if (WRITE_ACTIONS.has(action)) return this.loggedWrite(action, req, body);
    if (action === 'CreateTable' || action === 'UpdateTable') return this.withStream(action, req, body);
    if (action === 'DeleteTable') {
      const table = String(parse(body).TableName);
      this.calls.push(`DeleteTable ${table}`);
      const answer = await forward(this.options.dataEndpoint, req, body);
      if (answer.status < 300) this.dropTable(table);
      return answer;
    }
    const answer = await forward(this.options.dataEndpoint, req, body);
    return action === 'DescribeTable' && answer.status < 300 ? this.patchDescription(answer) : answer;
  }

  private async control(action: string, data: Json): Promise<Json> {
    switch (action) {
      case 'UpdateContinuousBackups': {
        const table = String(data.TableName);
        await this.describe(table, 'TableNotFoundException');
        const spec = data.PointInTimeRecoverySpecification as { PointInTimeRecoveryEnabled?: boolean };
        if (spec?.PointInTimeRecoveryEnabled === true) await this.enablePitr(table);
        else {
          this.pitr.delete(table);
          this.log.delete(table);
        }
        return this.continuousBackups(table);
      }
      case 'DescribeContinuousBackups':
        await this.describe(String(data.TableName), 'TableNotFoundException');
        return this.continuousBackups(String(data.TableName));
      case 'RestoreTableToPointInTime':
        return this.restore(data);
      case 'TagResource': {
        const table = tableOfArn(String(data.ResourceArn));
        await this.describe(table, 'ResourceNotFoundException');
        const added = (data.Tags ?? []) as { Key: string; Value: string }[];
        const kept = (this.tags.get(table) ?? []).filter((t) => !added.some((a) => a.Key === t.Key));
        this.tags.set(table, [...kept, ...added]);
        return {};
      }
      case 'UntagResource': {
        const table = tableOfArn(String(data.ResourceArn));
        const gone = (data.TagKeys ?? []) as string[];
        this.tags.set(
          table,
          (this.tags.get(table) ?? []).filter((t) => !gone.includes(t.Key)),
        );
        return {};
      }
      case 'ListTagsOfResource': {
        const table = tableOfArn(String(data.ResourceArn));
        await this.describe(table, 'ResourceNotFoundException');
        return { Tags: this.tags.get(table) ?? [] };
      }
      case 'UpdateTimeToLive': {
        const table = String(data.TableName);
        await this.describe(table, 'ResourceNotFoundException');
        const spec = data.TimeToLiveSpecification as { Enabled: boolean; AttributeName: string };
        if (spec.Enabled) this.ttl.set(table, spec.AttributeName);
        else this.ttl.delete(table);
        return { TimeToLiveSpecification: spec };
      }
      default: {
        const table = String(data.TableName);
        await this.describe(table, 'ResourceNotFoundException');
        const attr = this.ttl.get(table);
        return {
          TimeToLiveDescription:
            attr === undefined
              ? { TimeToLiveStatus: 'DISABLED' }
              : { TimeToLiveStatus: 'ENABLED', AttributeName: attr },
        };
      }
    }
  }

  private continuousBackups(table: string): Json {
    const since = this.pitr.get(table);
    return {
      ContinuousBackupsDescription: {
        ContinuousBackupsStatus: 'ENABLED',
        PointInTimeRecoveryDescription:
          since === undefined
            ? { PointInTimeRecoveryStatus: 'DISABLED' }
            : {
                PointInTimeRecoveryStatus: 'ENABLED',
                EarliestRestorableDateTime: epochSeconds(since + this.skewMs),
                LatestRestorableDateTime: epochSeconds(
                  Math.max(since, Date.now() - this.lagMs) + this.skewMs,
                ),
              },
      },
    };
  }

  private async enablePitr(table: string): Promise<void> {
    if (this.pitr.has(table)) return;
    const keys = await this.keyNames(table);
    const at = Date.now();
    this.log.set(
      table,
      (await this.scanAll(table)).map((item) => ({ atMs: at, key: keyId(item, keys), item })),
    );
    this.pitr.set(table, at);
  }

  private async restore(data: Json): Promise<Json> {
    const source = String(data.SourceTableName);
    const target = String(data.TargetTableName);
    const t = await this.describe(source, 'SourceTableNotFoundException');
    if ((await this.data('DescribeTable', { TableName: target })).status < 300)
      throw new WireError('TableAlreadyExistsException', `Table already exists: ${target}`);
    const since = this.pitr.get(source);
    if (since === undefined)
      throw new WireError('PointInTimeRecoveryUnavailableException', `PITR is not enabled on ${source}`);
    const latest = Math.max(since, Date.now() - this.lagMs);
    const atMs =
      data.UseLatestRestorableTime === true
        ? latest
        : Math.round(Number(data.RestoreDateTime) * 1_000) - this.skewMs; // on the host clock, as the log is
    if (!(atMs >= since && atMs <= latest)) {
      const shown = (ms: number) => new Date(ms + this.skewMs).toISOString();
      throw new WireError(
        'InvalidRestoreTimeException',
        `${shown(atMs)} is outside [${shown(since)}, ${shown(latest)}] for ${source}`,
      );
    }
    const throughput = t.ProvisionedThroughput as Json | undefined;
    await this.ok('CreateTable', {
      TableName: target,
      KeySchema: t.KeySchema,
      AttributeDefinitions: t.AttributeDefinitions,
      ...((t.BillingModeSummary as Json | undefined)?.BillingMode === 'PAY_PER_REQUEST'
        ? { BillingMode: 'PAY_PER_REQUEST' }
        : {
            ProvisionedThroughput: {
              ReadCapacityUnits: throughput?.ReadCapacityUnits ?? 5,
              WriteCapacityUnits: throughput?.WriteCapacityUnits ?? 5,
            },
          }),
    });
    while ((await this.describe(target, 'ResourceNotFoundException')).TableStatus !== 'ACTIVE')
      await new Promise((resolve) => setTimeout(resolve, 10)); // dynalite creates asynchronously
    const state = new Map<string, WireItem | undefined>();
    for (const entry of this.log.get(source) ?? []) if (entry.atMs <= atMs) state.set(entry.key, entry.item);
    for (const item of state.values())
      if (item !== undefined) await this.ok('PutItem', { TableName: target, Item: item });
    this.creatingUntil.set(target, Date.now() + this.creatingMs);
    return {
      TableDescription: {
        ...(await this.describe(target, 'ResourceNotFoundException')),
        TableStatus: 'CREATING',
      },
    };
  }

  /** CreateTable/UpdateTable: the stream setting stays here (dynalite has none); the rest goes to dynalite. */
  private async withStream(action: string, req: IncomingMessage, body: Buffer): Promise<WireAnswer> {
    const data = parse(body);
    const stream = data.StreamSpecification as Json | undefined;
    const table = String(data.TableName);
    delete data.StreamSpecification;
    if (action === 'UpdateTable') this.calls.push(`UpdateTable ${table}`);
    let answer: WireAnswer;
    if (action === 'UpdateTable' && Object.keys(data).length === 1) {
      answer = jsonAnswer(
        { TableDescription: await this.describe(table, 'ResourceNotFoundException') },
        DDB_JSON,
      );
    } else {
      answer = await forward(this.options.dataEndpoint, req, Buffer.from(JSON.stringify(data)));
    }
    if (answer.status < 300 && stream !== undefined) {
      if (stream.StreamEnabled === true) this.streams.set(table, stream);
      else this.streams.delete(table);
    }
    return answer;
  }

  private patchDescription(answer: WireAnswer): WireAnswer {
    const out = JSON.parse(answer.body.toString('utf8')) as { Table: Json };
    const table = String(out.Table.TableName);
    if ((this.creatingUntil.get(table) ?? 0) > Date.now()) out.Table.TableStatus = 'CREATING';
    const stream = this.streams.get(table);
    if (stream !== undefined) {
      out.Table.StreamSpecification = stream;
      out.Table.LatestStreamArn = `${String(out.Table.TableArn)}/stream/fake`;
    }
    return jsonAnswer(out, DDB_JSON);
  }

  private dropTable(table: string): void {
    for (const map of [
      this.log,
      this.pitr,
      this.keySchemas,
      this.creatingUntil,
      this.tags,
      this.ttl,
      this.streams,
    ])
      map.delete(table);
    this.scaling.dropResource(`table/${table}`);
  }

  /** Writes pass one key at a time; each written key is read back and logged before the answer goes out. */
  private async loggedWrite(action: string, req: IncomingMessage, body: Buffer): Promise<WireAnswer> {
    const data = parse(body);
    const written: { table: string; key: WireItem }[] = [];
    if (action === 'BatchWriteItem') {
      const batches = (data.RequestItems ?? {}) as Record<
        string,
        { PutRequest?: { Item: WireItem }; DeleteRequest?: { Key: WireItem } }[]
      >;
      for (const [table, requests] of Object.entries(batches)) {
        const keys = await this.keyNames(table);
        for (const r of requests)
          written.push({ table, key: pickKey(r.PutRequest?.Item ?? r.DeleteRequest?.Key ?? {}, keys) });
      }
    } else {
      const table = String(data.TableName);
      const item = (action === 'PutItem' ? data.Item : data.Key) as WireItem;
      written.push({ table, key: pickKey(item, await this.keyNames(table)) });
    }
    return this.withKeyLocks(
      written.map((w) => `${w.table}\u0000${JSON.stringify(w.key)}`),
      async () => {
        const answer = await forward(this.options.dataEndpoint, req, body);
        if (answer.status >= 300) return answer;
        for (const w of written) {
          if (!this.pitr.has(w.table)) continue;
          const got = await this.ok('GetItem', { TableName: w.table, Key: w.key, ConsistentRead: true });
          const keys = await this.keyNames(w.table);
          this.log
            .get(w.table)
            ?.push({ atMs: Date.now(), key: keyId(w.key, keys), item: got.Item as WireItem | undefined });
        }
        return answer;
      },
    );
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

  /** The table's description from dynalite, or the AWS error type `missing` when it does not exist. */
  private async describe(table: string, missing: string): Promise<Json> {
    const answer = await this.data('DescribeTable', { TableName: table });
    if (answer.status >= 300) throw new WireError(missing, `Table not found: ${table}`);
    return (JSON.parse(answer.body.toString('utf8')) as { Table: Json }).Table;
  }

  private async keyNames(table: string): Promise<string[]> {
    const cached = this.keySchemas.get(table);
    if (cached !== undefined) return cached;
    const schema = (await this.describe(table, 'ResourceNotFoundException')).KeySchema as {
      AttributeName: string;
    }[];
    const keys = schema.map((k) => k.AttributeName);
    this.keySchemas.set(table, keys);
    return keys;
  }

  private async scanAll(table: string): Promise<WireItem[]> {
    const items: WireItem[] = [];
    let start: unknown;
    do {
      const out = await this.ok('Scan', {
        TableName: table,
        ConsistentRead: true,
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      });
      items.push(...((out.Items ?? []) as WireItem[]));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  private ok(action: string, body: Json): Promise<Json> {
    return dynaliteOk(this.options.dataEndpoint, this.options.region, action, body);
  }

  private data(action: string, body: Json): Promise<WireAnswer> {
    return dynaliteCall(this.options.dataEndpoint, this.options.region, action, body);
  }
}

function parse(body: Buffer): Json {
  return body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as Json);
}
