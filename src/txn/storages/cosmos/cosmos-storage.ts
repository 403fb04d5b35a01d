/**
 * The {@link Storage} contract on Cosmos DB (NoSQL API), in ScalarDB's on-disk format
 * (../../../../shared/reference/scalardb-storage-formats.md §2): database per namespace, container per
 * table with partition key `/concatenatedPartitionKey`, documents as in ./documents.ts, the catalog in
 * `scalardb.metadata` and the Coordinator in `coordinator.state`.
 *
 * Mutations take one of two paths (docs/decisions/0009-cosmos-mutations.md): ScalarDB's `mutate.js`
 * stored procedure, atomic per partition (real Cosmos DB), or ETag compare-and-swap per record (any
 * Cosmos DB API server, cosmosdb-server in the lab, which runs no stored procedures). Both evaluate the
 * condition and write on the same version of the record, which is all Consensus Commit needs.
 */
import { CosmosClient, type Container, type ErrorResponse } from '@azure/cosmos';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { ConfigError, TransactionError } from '../../../errors.ts';
import type {
  Key,
  Mutation,
  Row,
  ScanOptions,
  Storage,
  StorageCapabilities,
  TableRef,
  TableSchema,
} from '../../contract.ts';
import { fullTableName, physicalColumns } from '../../schema.ts';
import { documentIds, partitionText, rowFromRecord, type CosmosRecord } from './documents.ts';
import type { CosmosContainers, TableInfo } from './containers.ts';
import { applyWithEtag } from './etag-mutations.ts';
import {
  catalogEntry,
  metadataDocument,
  METADATA_CONTAINER,
  METADATA_DATABASE,
  type CosmosTableMetadata,
} from './metadata.ts';
import { applyWithStoredProcedure } from './sp-mutations.ts';
import { STORED_PROCEDURE_BODY, STORED_PROCEDURE_ID } from './stored-procedure.ts';

const PAGE_SIZE = 500;

export interface CosmosStorageOptions {
  readonly endpoint: string;
  readonly key: string;
  readonly caFile?: string;
  readonly prefix?: string;
  readonly mutations?: 'stored-procedure' | 'etag';
}

export async function openCosmosStorage(name: string, options: CosmosStorageOptions): Promise<CosmosStorage> {
  const storage = new CosmosStorage(name, options);
  try {
    await storage.now();
  } catch (error) {
    await storage.close();
    throw error;
  }
  return storage;
}

/** A client for one account; the CA (if any) is trusted for this client only. */
export function cosmosClient(endpoint: string, key: string, caFile: string | undefined): CosmosClient {
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (error) {
      throw new ConfigError('PASSWORD_UNAVAILABLE', `Cannot read the CA file ${caFile} of ${endpoint}.`, {
        hint: 'Check the caFile path and that this process may read it.',
        cause: error,
      });
    }
  }
  return new CosmosClient({
    endpoint,
    key,
    ...(ca === undefined ? {} : { agent: new Agent({ ca, keepAlive: true }) }),
    connectionPolicy: { enableEndpointDiscovery: false, requestTimeout: 10_000 },
  });
}

export class CosmosStorage implements Storage, CosmosContainers {
  readonly capabilities: StorageCapabilities;
  readonly client: CosmosClient;
  readonly mode: 'stored-procedure' | 'etag';
  private readonly prefix: string;
  private physicalNames: Readonly<Record<string, string>> = {};
  private readonly tables = new Map<string, TableInfo>();

  constructor(
    readonly name: string,
    private readonly options: CosmosStorageOptions,
  ) {
    this.prefix = options.prefix ?? '';
    this.mode = options.mutations ?? 'stored-procedure';
    this.capabilities = {
      atomicity: this.mode === 'etag' ? 'record' : 'partition',
      transactionalSnapshot: false,
      bigintSafeOnly: true,
    };
    this.client = cosmosClient(options.endpoint, options.key, options.caFile);
  }

  usePhysicalNames(names: Readonly<Record<string, string>>): void {
    this.physicalNames = { ...names };
    this.tables.clear();
  }

  /** The database holding a namespace: `<prefix><physical ns>`. */
  databaseName(namespace: string): string {
    return `${this.prefix}${this.physicalNames[namespace] ?? namespace}`;
  }

  container(ref: TableRef): Container {
    return this.client.database(this.databaseName(ref.namespace)).container(ref.table);
  }

  async get(table: TableRef, key: Key): Promise<Row | undefined> {
    const info = await this.info(table);
    const doc = await this.readRecord(table, info, key);
    return doc === undefined ? undefined : rowFromRecord(info, doc);
  }

  /** The stored document of a key, with its `_etag`, or undefined. */
  async readRecord(table: TableRef, info: TableInfo, key: Key): Promise<CosmosRecord | undefined> {
    const { id, partition } = documentIds(info, key);
    const out = await this.send(() => this.container(table).item(id, partition).read<CosmosRecord>(), table);
    return out.resource ?? undefined;
  }

  /** One partition, ordered by the clustering key (sorted here: the order is ScalarDB's typed order). */
  async scan(table: TableRef, partitionKey: Key, options: ScanOptions = {}): Promise<Row[]> {
    const info = await this.info(table);
    const partition = partitionText(info, partitionKey);
    const iterator = this.container(table).items.query<CosmosRecord>(
      {
        query: 'SELECT * FROM r WHERE r.concatenatedPartitionKey = @p',
        parameters: [{ name: '@p', value: partition }],
      },
      { partitionKey: partition, maxItemCount: PAGE_SIZE },
    );
    const rows: Row[] = [];
    while (iterator.hasMoreResults()) {
      const page = await this.send(() => iterator.fetchNext(), table);
      for (const doc of page.resources ?? []) rows.push(rowFromRecord(info, doc));
    }
    rows.sort((a, b) => compareClustering(info, a, b));
    return options.limit === undefined ? rows : rows.slice(0, options.limit);
  }

  /** Every record, page by page (Cosmos DB's order, not key order: no caller depends on it). */
  async *scanAll(table: TableRef): AsyncIterable<Row> {
    const info = await this.info(table);
    const iterator = this.container(table).items.readAll<CosmosRecord>({ maxItemCount: PAGE_SIZE });
    while (iterator.hasMoreResults()) {
      const page = await this.send(() => iterator.fetchNext(), table);
      for (const doc of page.resources ?? []) yield rowFromRecord(info, doc);
    }
  }

  async mutate(mutations: readonly Mutation[]): Promise<void> {
    const infos = new Map<string, TableInfo>();
    for (const m of mutations) infos.set(fullTableName(m.table), await this.info(m.table));
    const infoOf = (ref: TableRef) => infos.get(fullTableName(ref)) as TableInfo;
    try {
      if (this.mode === 'etag') await applyWithEtag(this, mutations, infoOf);
      else await applyWithStoredProcedure(this, mutations, infoOf);
    } catch (error) {
      throw this.storageError(error, mutations[0]?.table);
    }
  }

  async createTable(schema: TableSchema): Promise<void> {
    await this.send(async () => {
      const { database: meta } = await this.client.databases.createIfNotExists({
        id: this.databaseName(METADATA_DATABASE),
      });
      await meta.containers.createIfNotExists({ id: METADATA_CONTAINER, partitionKey: { paths: ['/id'] } });
      const { database } = await this.client.databases.createIfNotExists({
        id: this.databaseName(schema.namespace),
      });
      const { container } = await database.containers.createIfNotExists({
        id: schema.table,
        partitionKey: { paths: ['/concatenatedPartitionKey'] },
        // ScalarDB's policy: nothing indexed but the key; a composite index orders a partition's records.
        indexingPolicy: {
          excludedPaths: [{ path: '/*' }],
          includedPaths: [{ path: '/concatenatedPartitionKey/?' }],
          ...(schema.clusteringKey.length === 0
            ? {}
            : {
                compositeIndexes: [
                  [
                    { path: '/concatenatedPartitionKey', order: 'ascending' as const },
                    ...schema.clusteringKey.map((c) => ({
                      path: `/clusteringKey/${c}`,
                      order: 'ascending' as const,
                    })),
                  ],
                ],
              }),
        },
      });
      if (this.mode === 'stored-procedure') {
        await container.scripts.storedProcedures
          .create({ id: STORED_PROCEDURE_ID, body: STORED_PROCEDURE_BODY })
          .catch((error: ErrorResponse) => {
            if (error.code !== 409) throw error;
          });
      }
      await meta.container(METADATA_CONTAINER).items.upsert(metadataDocument(schema));
    });
    this.tables.set(fullTableName(schema), { schema, physical: physicalColumns(schema), orders: {} });
  }

  async listTables(namespace: string): Promise<TableSchema[]> {
    return (await this.readCatalog()).filter((t) => t.schema.namespace === namespace).map((t) => t.schema);
  }

  /** The service clock: the HTTP `Date` header of a database-account read (1 s resolution), mid-second. */
  async now(): Promise<number> {
    return (await this.serviceDate()) + 500;
  }

  /** Epoch ms of the `Date` header of a cheap call (whole seconds). */
  async serviceDate(): Promise<number> {
    const out = await this.send(() => this.client.getDatabaseAccount());
    const headers = out.headers as Record<string, string | undefined>;
    const ms = Date.parse(headers.date ?? headers.Date ?? '');
    if (!Number.isFinite(ms)) {
      throw new TransactionError(
        'STORAGE_FAILED',
        `Cosmos DB storage ${this.name} answered without a Date header.`,
        {
          hint: 'Check the endpoint: it must be a Cosmos DB account endpoint.',
          context: { storage: this.name },
        },
      );
    }
    return ms;
  }

  async close(): Promise<void> {
    this.client.dispose();
    return Promise.resolve();
  }

  async info(table: TableRef): Promise<TableInfo> {
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
    const container = this.client
      .database(this.databaseName(METADATA_DATABASE))
      .container(METADATA_CONTAINER);
    const out: TableInfo[] = [];
    try {
      const iterator = container.items.readAll<CosmosTableMetadata>({ maxItemCount: PAGE_SIZE });
      while (iterator.hasMoreResults()) {
        const page = await iterator.fetchNext();
        for (const doc of page.resources ?? []) out.push(catalogEntry(doc));
      }
    } catch (error) {
      if ((error as ErrorResponse).code === 404) return []; // nobody created a table here yet
      throw this.storageError(error);
    }
    for (const info of out) this.tables.set(fullTableName(info.schema), info);
    return out;
  }

  async send<T>(call: () => Promise<T>, table?: TableRef): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.storageError(error, table);
    }
  }

  storageError(error: unknown, table?: TableRef): unknown {
    if (error instanceof TransactionError || error instanceof ConfigError) return error;
    const context = { storage: this.name, ...(table === undefined ? {} : { table: fullTableName(table) }) };
    const e = error as ErrorResponse & { code?: number | string; cause?: { code?: string } };
    const status = typeof e.code === 'number' ? e.code : undefined;
    if (status === 404) {
      return new TransactionError(
        'TXN_TABLE_NOT_FOUND',
        `A Cosmos DB container of storage ${this.name} does not exist.`,
        {
          hint: 'Create the tables first, or check the prefix and the namespace mapping.',
          context,
          cause: error,
        },
      );
    }
    if (status === 429 || status === 449 || status === 503) {
      return new TransactionError(
        'TX_CONFLICT',
        `Storage ${this.name} refused the write (${status}); nothing was applied.`,
        {
          hint: 'Retry the transaction.',
          context,
          cause: error,
        },
      );
    }
    if (status === 401 || status === 403) {
      return new TransactionError(
        'STORAGE_AUTH_FAILED',
        `Cosmos DB refused the key of storage ${this.name}.`,
        {
          hint: 'Check the account key (passwordEnv / passwordFile) and that it is a read-write key.',
          context,
          cause: error,
        },
      );
    }
    const code = String(e.cause?.code ?? e.code ?? '');
    if (
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'TimeoutError'].includes(
        code,
      ) ||
      e.name === 'TimeoutError' ||
      /ECONNREFUSED|certificate|self.signed/i.test(String(e.message))
    ) {
      return new TransactionError(
        'STORAGE_UNREACHABLE',
        `Cannot reach Cosmos DB storage ${this.name} at ${this.options.endpoint}: ${String(e.message)}`,
        {
          hint: 'Check that the endpoint is running and reachable, and its certificate (caFile).',
          context,
          cause: error,
        },
      );
    }
    return error;
  }
}

/** Typed comparison of the clustering key columns, each in its order. */
function compareClustering(info: TableInfo, a: Row, b: Row): number {
  for (const c of info.schema.clusteringKey) {
    const x = a[c];
    const y = b[c];
    let d: number;
    if (x instanceof Uint8Array && y instanceof Uint8Array) d = Buffer.compare(x, y);
    else if (typeof x === 'string' && typeof y === 'string') d = x < y ? -1 : x > y ? 1 : 0;
    else d = Number(x) - Number(y);
    if (d !== 0) return info.orders[c] === 'DESC' ? -d : d;
  }
  return 0;
}
