/**
 * The {@link Storage} contract on DynamoDB, in ScalarDB's on-disk format (../../../../shared/reference/
 * scalardb-storage-formats.md §1): one table `<prefix><ns>.<table>` per ScalarDB table, HASH key
 * `concatenatedPartitionKey` (B) and RANGE key `concatenatedClusteringKey` (B, only with clustering keys)
 * in the ordered key encoding, the key columns also stored as plain attributes, nulls removed, the catalog
 * in `<prefix>scalardb.metadata` and the Coordinator in `<prefix>coordinator.state`.
 *
 * Atomicity is per record: every mutation is one conditional `UpdateItem` / `DeleteItem`. ScalarDB batches a
 * prepare into `TransactWriteItems`, an optimisation Consensus Commit does not need for correctness (it runs
 * on Cassandra with the same per-record guarantee), and dynalite — the real data plane our tests run
 * against — does not implement `TransactWriteItems`; so the transaction layer commits record by record here.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionError } from '../../../errors.ts';
import type {
  Condition,
  Key,
  Mutation,
  Row,
  ScanOptions,
  Storage,
  StorageCapabilities,
  TableRef,
  TableSchema,
} from '../../contract.ts';
import { fullTableName, keyColumns, physicalColumns } from '../../schema.ts';
import { encodeKey, type KeyColumn } from './key-encoding.ts';
import {
  catalogEntry,
  METADATA_KEY,
  METADATA_NAMESPACE,
  METADATA_TABLE_NAME,
  metadataItem,
  type CatalogEntry,
} from './metadata.ts';
import { rowFromItem, toAttribute } from './values.ts';

export const PARTITION_KEY_ATTR = 'concatenatedPartitionKey';
export const CLUSTERING_KEY_ATTR = 'concatenatedClusteringKey';

/** How long a new table may stay CREATING before we give up. */
const TABLE_ACTIVE_TIMEOUT_MS = 60_000;
/** Unconditional writes applied at once (they touch distinct records; order among them does not matter). */
const UNCONDITIONAL_PARALLELISM = 16;

export interface DynamoStorageOptions {
  readonly region: string;
  readonly endpoint?: string;
  /** `<prefix>` of every physical table name (ScalarDB's `scalar.db.dynamo.namespace.prefix`). */
  readonly prefix?: string;
  /** Static credentials (dynalite accepts any); otherwise the SDK's default provider chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

interface TableInfo extends CatalogEntry {
  readonly partition: KeyColumn[];
  readonly clustering: KeyColumn[];
}

export async function openDynamoStorage(name: string, options: DynamoStorageOptions): Promise<DynamoStorage> {
  const storage = new DynamoStorage(name, options);
  try {
    await storage.now();
  } catch (error) {
    await storage.close();
    throw error;
  }
  return storage;
}

export class DynamoStorage implements Storage {
  readonly capabilities: StorageCapabilities = { atomicity: 'record', transactionalSnapshot: false };
  readonly client: DynamoDBClient;
  private readonly prefix: string;
  private physicalNames: Readonly<Record<string, string>> = {};
  private readonly tables = new Map<string, TableInfo>();

  constructor(
    readonly name: string,
    private readonly options: DynamoStorageOptions,
  ) {
    this.prefix = options.prefix ?? '';
    // The SDK warns on Node 20 that releases after January 2027 need Node 22; our version is pinned in the
    // lockfile, so the warning would only clutter every CLI run.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new DynamoDBClient({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      maxAttempts: 3,
    });
  }

  usePhysicalNames(names: Readonly<Record<string, string>>): void {
    this.physicalNames = { ...names };
    this.tables.clear();
  }

  /** `<prefix><physical ns>.<table>`: the DynamoDB table name of a logical table. */
  physicalTableName(ref: TableRef): string {
    return `${this.prefix}${this.physicalNames[ref.namespace] ?? ref.namespace}.${ref.table}`;
  }

  async get(table: TableRef, key: Key): Promise<Row | undefined> {
    const info = await this.info(table);
    const out = await this.send(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.physicalTableName(table),
          Key: this.keyAttributes(info, key),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item === undefined ? undefined : rowFromItem(out.Item, info.physical);
  }

  async scan(table: TableRef, partitionKey: Key, options: ScanOptions = {}): Promise<Row[]> {
    const info = await this.info(table);
    const rows: Row[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const remaining = options.limit === undefined ? undefined : options.limit - rows.length;
      if (remaining !== undefined && remaining <= 0) break;
      const out = await this.send(() =>
        this.client.send(
          new QueryCommand({
            TableName: this.physicalTableName(table),
            KeyConditionExpression: '#p = :p',
            ExpressionAttributeNames: { '#p': PARTITION_KEY_ATTR },
            ExpressionAttributeValues: { ':p': { B: encodeKey(info.partition, partitionKey, true) } },
            ConsistentRead: true,
            ...(remaining === undefined ? {} : { Limit: remaining }),
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        ),
      );
      for (const item of out.Items ?? []) rows.push(rowFromItem(item, info.physical));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return rows;
  }

  /** Every record, page by page. DynamoDB scans in hash order, not key order (no caller depends on it). */
  async *scanAll(table: TableRef): AsyncIterable<Row> {
    const info = await this.info(table);
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(() =>
        this.client.send(
          new ScanCommand({
            TableName: this.physicalTableName(table),
            ConsistentRead: true,
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        ),
      );
      for (const item of out.Items ?? []) yield rowFromItem(item, info.physical);
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
  }

  /** Record atomicity: conditional mutations run one by one (stopping at the first failed condition). */
  async mutate(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.every((m) => m.condition === undefined)) {
      for (let i = 0; i < mutations.length; i += UNCONDITIONAL_PARALLELISM) {
        await Promise.all(mutations.slice(i, i + UNCONDITIONAL_PARALLELISM).map((m) => this.mutateOne(m)));
      }
      return;
    }
    for (const m of mutations) await this.mutateOne(m);
  }

  async createTable(schema: TableSchema): Promise<void> {
    const metadataTable = this.physicalTableName({
      namespace: METADATA_NAMESPACE,
      table: METADATA_TABLE_NAME,
    });
    await this.createPhysicalTable(
      metadataTable,
      [{ AttributeName: METADATA_KEY, AttributeType: 'S' }],
      [{ AttributeName: METADATA_KEY, KeyType: 'HASH' }],
    );
    const name = this.physicalTableName(schema);
    const clustered = schema.clusteringKey.length > 0;
    await this.createPhysicalTable(
      name,
      [
        { AttributeName: PARTITION_KEY_ATTR, AttributeType: 'B' },
        ...(clustered ? [{ AttributeName: CLUSTERING_KEY_ATTR, AttributeType: 'B' as const }] : []),
      ],
      [
        { AttributeName: PARTITION_KEY_ATTR, KeyType: 'HASH' },
        ...(clustered ? [{ AttributeName: CLUSTERING_KEY_ATTR, KeyType: 'RANGE' as const }] : []),
      ],
    );
    // The catalog names tables by their logical name so a restored copy under another name reads the same.
    await this.send(() =>
      this.client.send(
        new PutItemCommand({
          TableName: metadataTable,
          Item: metadataItem(`${this.prefix}${fullTableName(schema)}`, schema),
        }),
      ),
    );
    this.tables.set(
      fullTableName(schema),
      withKeyColumns({ schema, physical: physicalColumns(schema), orders: {} }),
    );
  }

  async listTables(namespace: string): Promise<TableSchema[]> {
    return (await this.readCatalog()).filter((t) => t.schema.namespace === namespace).map((t) => t.schema);
  }

  /**
   * The service clock: DynamoDB has no time API, so this reads the HTTP `Date` header of a cheap call
   * (1 s resolution) and returns the middle of that second. The DynamoDB engine measures the clock with
   * its uncertainty instead (../../../engines/dynamodb/clock.ts).
   */
  async now(): Promise<number> {
    return (await this.serviceDate()) + 500;
  }

  /** Epoch ms of the service's `Date` header on a `ListTables` round trip (whole seconds). */
  async serviceDate(): Promise<number> {
    const command = new ListTablesCommand({ Limit: 1 });
    let date: string | undefined;
    command.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        const headers = (result.response as { headers?: Record<string, string> }).headers ?? {};
        date = headers.date ?? headers.Date;
        return result;
      },
      { step: 'deserialize', name: 'stillpointServiceDate' },
    );
    await this.send(() => this.client.send(command));
    const ms = date === undefined ? Number.NaN : Date.parse(date);
    if (!Number.isFinite(ms)) {
      throw new TransactionError(
        'STORAGE_FAILED',
        `DynamoDB storage ${this.name} answered without a usable Date header.`,
        {
          hint: 'Check the endpoint: it must be DynamoDB or a compatible server.',
          context: { storage: this.name },
        },
      );
    }
    return ms;
  }

  async close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  private async mutateOne(m: Mutation): Promise<void> {
    const info = await this.info(m.table);
    const TableName = this.physicalTableName(m.table);
    const Key = this.keyAttributes(info, m.key);
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const condition = this.conditionExpression(m.condition, names, values);
    const conditional = condition === undefined ? {} : { ConditionExpression: condition };
    const expressions = () => ({
      ...(Object.keys(names).length === 0 ? {} : { ExpressionAttributeNames: names }),
      ...(Object.keys(values).length === 0 ? {} : { ExpressionAttributeValues: values }),
    });
    if (m.kind === 'delete') {
      await this.send(
        () => this.client.send(new DeleteItemCommand({ TableName, Key, ...conditional, ...expressions() })),
        m,
      );
      return;
    }
    // Key columns are written as plain attributes only by unconditional puts and put-if-not-exists (as ScalarDB).
    const writeKeys = m.condition === undefined || m.condition.kind === 'ifNotExists';
    const columns: Record<string, Row[string]> = {
      ...(writeKeys ? pick(m.key, keyColumns(info.schema)) : {}),
      ...m.values,
    };
    const sets: string[] = [];
    const removes: string[] = [];
    Object.entries(columns).forEach(([column, value], i) => {
      if (!writeKeys && keyColumns(info.schema).includes(column)) return;
      names[`#c${i}`] = column;
      if (value === null || value === undefined) removes.push(`#c${i}`);
      else {
        values[`:c${i}`] = toAttribute(value, info.physical[column]);
        sets.push(`#c${i} = :c${i}`);
      }
    });
    if (sets.length === 0 && removes.length === 0) {
      // Nothing to change but the condition: rewrite the first key column with its own value.
      const first = keyColumns(info.schema)[0] ?? '';
      names['#k0'] = first;
      values[':k0'] = toAttribute(m.key[first] ?? '', info.physical[first]);
      sets.push('#k0 = :k0');
    }
    const update = [
      sets.length > 0 ? `SET ${sets.join(', ')}` : '',
      removes.length > 0 ? `REMOVE ${removes.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    await this.send(
      () =>
        this.client.send(
          new UpdateItemCommand({
            TableName,
            Key,
            UpdateExpression: update,
            ...conditional,
            ...expressions(),
          }),
        ),
      m,
    );
  }

  private conditionExpression(
    condition: Condition | undefined,
    names: Record<string, string>,
    values: Record<string, AttributeValue>,
  ): string | undefined {
    if (condition === undefined) return undefined;
    names['#pk'] = PARTITION_KEY_ATTR;
    switch (condition.kind) {
      case 'ifNotExists':
        return 'attribute_not_exists(#pk)';
      case 'ifExists':
        return 'attribute_exists(#pk)';
      case 'ifTxId':
        names['#txid'] = 'tx_id';
        values[':txid'] = { S: condition.txId };
        return 'attribute_exists(#pk) AND #txid = :txid';
      case 'ifTxIdIsNull':
        // ScalarDB's IS_NULL: the attribute is missing or holds NULL.
        names['#txid'] = 'tx_id';
        values[':null'] = { NULL: true };
        return 'attribute_exists(#pk) AND (attribute_not_exists(#txid) OR #txid = :null)';
      case 'ifTxIdAndState':
        names['#txid'] = 'tx_id';
        names['#txstate'] = 'tx_state';
        values[':txid'] = { S: condition.txId };
        values[':txstate'] = { N: String(condition.state) };
        return 'attribute_exists(#pk) AND #txid = :txid AND #txstate = :txstate';
    }
  }

  private keyAttributes(info: TableInfo, key: Key): Record<string, AttributeValue> {
    return {
      [PARTITION_KEY_ATTR]: { B: encodeKey(info.partition, key, true) },
      ...(info.clustering.length === 0
        ? {}
        : { [CLUSTERING_KEY_ATTR]: { B: encodeKey(info.clustering, key, false) } }),
    };
  }

  private async info(table: TableRef): Promise<TableInfo> {
    const name = fullTableName(table);
    if (!this.tables.has(name)) await this.readCatalog();
    const found = this.tables.get(name);
    if (found === undefined) {
      throw new TransactionError(
        'TXN_TABLE_NOT_FOUND',
        `Table ${name} is not known to storage ${this.name}.`,
        {
          hint: 'Create it first (createTable / the schema step), or check the namespace mapping of the group.',
          context: { storage: this.name, table: name },
        },
      );
    }
    return found;
  }

  private async readCatalog(): Promise<TableInfo[]> {
    const metadataTable = this.physicalTableName({
      namespace: METADATA_NAMESPACE,
      table: METADATA_TABLE_NAME,
    });
    const out: TableInfo[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ScanCommand({
            TableName: metadataTable,
            ConsistentRead: true,
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        );
      } catch (error) {
        if (error instanceof ResourceNotFoundException) return []; // nobody created a table here yet
        throw this.storageError(error);
      }
      for (const item of page.Items ?? []) {
        const entry = catalogEntry(item, (stored) =>
          stored.startsWith(this.prefix) ? stored.slice(this.prefix.length) : undefined,
        );
        if (entry !== undefined) out.push(withKeyColumns(entry));
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    for (const info of out) this.tables.set(fullTableName(info.schema), info);
    return out;
  }

  private async createPhysicalTable(
    TableName: string,
    AttributeDefinitions: { AttributeName: string; AttributeType: 'S' | 'B' }[],
    KeySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[],
  ): Promise<void> {
    try {
      await this.client.send(
        new CreateTableCommand({
          TableName,
          AttributeDefinitions,
          KeySchema,
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw this.storageError(error);
    }
    const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
    for (;;) {
      const out = await this.send(() => this.client.send(new DescribeTableCommand({ TableName })));
      if (out.Table?.TableStatus === 'ACTIVE') return;
      if (Date.now() > deadline) {
        throw new TransactionError(
          'STORAGE_FAILED',
          `DynamoDB table ${TableName} did not become ACTIVE within ${TABLE_ACTIVE_TIMEOUT_MS} ms.`,
          {
            hint: 'Check the table in the console; retry once it is ACTIVE.',
            context: { storage: this.name, table: TableName },
          },
        );
      }
      await sleep(100);
    }
  }

  private async send<T>(call: () => Promise<T>, mutation?: Mutation): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.storageError(error, mutation);
    }
  }

  private storageError(error: unknown, mutation?: Mutation): unknown {
    if (error instanceof TransactionError) return error;
    const context = {
      storage: this.name,
      ...(mutation === undefined ? {} : { table: fullTableName(mutation.table) }),
    };
    if (error instanceof ConditionalCheckFailedException) {
      return new TransactionError(
        'TX_CONDITION_FAILED',
        `A mutation's condition did not hold on storage ${this.name}; it was not applied.`,
        {
          hint: 'Another transaction wrote the record first; retry the transaction.',
          context,
          cause: error,
        },
      );
    }
    const name = (error as { name?: string }).name ?? '';
    if (
      name === 'TransactionConflictException' ||
      name === 'ProvisionedThroughputExceededException' ||
      name === 'ThrottlingException'
    ) {
      return new TransactionError(
        'TX_CONFLICT',
        `Storage ${this.name} refused the write (${name}); nothing was applied.`,
        { hint: 'Retry the transaction.', context, cause: error },
      );
    }
    if (error instanceof ResourceNotFoundException) {
      return new TransactionError(
        'TXN_TABLE_NOT_FOUND',
        `A DynamoDB table of storage ${this.name} does not exist: ${error.message}`,
        {
          hint: 'Create the tables first, or check the prefix and the namespace mapping.',
          context,
          cause: error,
        },
      );
    }
    const code = (error as { code?: string }).code ?? '';
    if (
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code) ||
      name === 'TimeoutError'
    ) {
      return new TransactionError(
        'STORAGE_UNREACHABLE',
        `Cannot reach DynamoDB storage ${this.name} at ${this.options.endpoint ?? `region ${this.options.region}`}: ${String((error as Error).message)}`,
        {
          hint: 'Check that the endpoint is running and reachable, and the region.',
          context,
          cause: error,
        },
      );
    }
    if (
      name === 'UnrecognizedClientException' ||
      name === 'InvalidSignatureException' ||
      name === 'AccessDeniedException' ||
      name === 'CredentialsProviderError'
    ) {
      return new TransactionError(
        'STORAGE_AUTH_FAILED',
        `DynamoDB refused the credentials of storage ${this.name}: ${String((error as Error).message)}`,
        {
          hint: 'Check the AWS credentials (environment, profile or role) and the IAM permissions in docs/backup-and-restore.md.',
          context,
          cause: error,
        },
      );
    }
    return error;
  }
}

function withKeyColumns(entry: CatalogEntry): TableInfo {
  const column = (name: string, order: 'ASC' | 'DESC'): KeyColumn => ({
    name,
    type: entry.physical[name] ?? 'TEXT',
    order,
  });
  return {
    ...entry,
    partition: entry.schema.partitionKey.map((c) => column(c, 'ASC')),
    clustering: entry.schema.clusteringKey.map((c) => column(c, entry.orders[c] ?? 'ASC')),
  };
}

function pick(key: Key, columns: readonly string[]): Record<string, Row[string]> {
  const out: Record<string, Row[string]> = {};
  for (const c of columns) out[c] = key[c] ?? null;
  return out;
}
