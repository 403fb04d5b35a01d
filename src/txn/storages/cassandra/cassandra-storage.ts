/**
 * The {@link Storage} contract on Apache Cassandra, in ScalarDB's format for Cassandra (see ./cql.ts):
 * keyspace per namespace, native columns, the schema read back from `system_schema`, the Coordinator in
 * `coordinator.state`.
 *
 * Consistency as ScalarDB's Cassandra adapter: reads of one record or partition at SERIAL (Paxos reads, so a
 * read sees every committed LWT), conditional writes as LWTs at QUORUM with serial consistency SERIAL, plain
 * writes at QUORUM; whole-table scans (sweep, checker) at QUORUM since SERIAL is single-partition only.
 *
 * Atomicity is per record: every conditional mutation is its own LWT, applied in order, stopping at the first
 * that does not apply. ScalarDB batches same-partition LWTs; Consensus Commit does not need it.
 */
import cassandra from 'cassandra-driver';
import { TransactionError } from '../../../errors.ts';
import type {
  ColumnType,
  Key,
  Mutation,
  Row,
  ScanOptions,
  Storage,
  StorageCapabilities,
  TableRef,
  TableSchema,
  Value,
} from '../../contract.ts';
import { fullTableName, keyColumns, physicalColumns } from '../../schema.ts';
import {
  createKeyspaceCql,
  createTableCql,
  fromCql,
  ifClause,
  q,
  schemasFromColumns,
  toCql,
  whereKey,
  type SchemaColumn,
} from './cql.ts';

const { consistencies } = cassandra.types;
const PAGE = 500;
const UNCONDITIONAL_PARALLELISM = 16;

export interface CassandraStorageOptions {
  readonly contactPoints: readonly string[];
  readonly port: number;
  readonly localDataCenter: string;
  readonly user?: string;
  readonly password?: string;
  /** SimpleStrategy replication factor of keyspaces this storage creates (ScalarDB's default is 3). */
  readonly replicationFactor: number;
  readonly connectTimeoutMs: number;
}

interface TableInfo {
  readonly schema: TableSchema;
  readonly physical: Readonly<Record<string, ColumnType>>;
}

export async function openCassandraStorage(
  name: string,
  options: CassandraStorageOptions,
): Promise<CassandraStorage> {
  const storage = new CassandraStorage(name, options);
  try {
    await storage.client.connect();
    await storage.now();
  } catch (error) {
    await storage.close();
    throw storage.storageError(error);
  }
  return storage;
}

export class CassandraStorage implements Storage {
  readonly capabilities: StorageCapabilities = { atomicity: 'record', transactionalSnapshot: false };
  readonly client: cassandra.Client;
  private physicalNames: Readonly<Record<string, string>> = {};
  private readonly tables = new Map<string, TableInfo>();

  constructor(
    readonly name: string,
    private readonly options: CassandraStorageOptions,
  ) {
    this.client = new cassandra.Client({
      contactPoints: [...options.contactPoints],
      // A schema change returns once every node holds it (the driver compares schema versions), for up to
      // 60 s, not the driver's 10 s: a statement that follows it on another coordinator must find the table.
      // Two members restored at once on a busy 3-node cluster met "table markers does not exist" (issue 18).
      protocolOptions: { port: options.port, maxSchemaAgreementWaitSeconds: 60 },
      localDataCenter: options.localDataCenter,
      encoding: { useBigIntAsLong: true, useBigIntAsVarint: true },
      socketOptions: { connectTimeout: options.connectTimeoutMs, readTimeout: 30_000 },
      queryOptions: { consistency: consistencies.quorum, prepare: true },
      ...(options.user === undefined
        ? {}
        : { authProvider: new cassandra.auth.PlainTextAuthProvider(options.user, options.password ?? '') }),
    });
  }

  usePhysicalNames(names: Readonly<Record<string, string>>): void {
    this.physicalNames = { ...names };
    this.tables.clear();
  }

  /** The keyspace holding a namespace (its physical name after a restore into new keyspaces). */
  keyspace(namespace: string): string {
    return this.physicalNames[namespace] ?? namespace;
  }

  private qualified(ref: TableRef): string {
    return `${q(this.keyspace(ref.namespace))}.${q(ref.table)}`;
  }

  async get(table: TableRef, key: Key): Promise<Row | undefined> {
    const info = await this.info(table);
    const keys = keyColumns(info.schema);
    const rs = await this.exec(
      `SELECT * FROM ${this.qualified(table)} WHERE ${whereKey(keys)}`,
      keys.map((c) => toCql(key[c] ?? null, info.physical[c])),
      { consistency: consistencies.serial },
    );
    const row = rs.rows[0];
    return row === undefined ? undefined : fromCql(row, info.physical);
  }

  async scan(table: TableRef, partitionKey: Key, options: ScanOptions = {}): Promise<Row[]> {
    const info = await this.info(table);
    const keys = info.schema.partitionKey;
    const limit = options.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(options.limit))}`;
    const params = keys.map((c) => toCql(partitionKey[c] ?? null, info.physical[c]));
    const rows: Row[] = [];
    let pageState: string | undefined;
    do {
      const rs = await this.exec(
        `SELECT * FROM ${this.qualified(table)} WHERE ${whereKey(keys)}${limit}`,
        params,
        {
          consistency: consistencies.serial,
          fetchSize: PAGE,
          ...(pageState === undefined ? {} : { pageState }),
        },
      );
      for (const row of rs.rows) rows.push(fromCql(row, info.physical));
      pageState = rs.pageState ?? undefined;
    } while (pageState !== undefined && (options.limit === undefined || rows.length < options.limit));
    return rows;
  }

  /** Every record, page by page, in token order (no caller depends on key order across partitions). */
  async *scanAll(table: TableRef): AsyncIterable<Row> {
    const info = await this.info(table);
    let pageState: string | undefined;
    do {
      const rs = await this.exec(`SELECT * FROM ${this.qualified(table)}`, [], {
        fetchSize: PAGE,
        ...(pageState === undefined ? {} : { pageState }),
      });
      for (const row of rs.rows) yield fromCql(row, info.physical);
      pageState = rs.pageState ?? undefined;
    } while (pageState !== undefined);
  }

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
    const keyspace = this.keyspace(schema.namespace);
    await this.exec(createKeyspaceCql(keyspace, this.options.replicationFactor), [], { prepare: false });
    await this.exec(createTableCql(keyspace, schema), [], { prepare: false });
    this.tables.set(fullTableName(schema), { schema, physical: physicalColumns(schema) });
  }

  async listTables(namespace: string): Promise<TableSchema[]> {
    const rs = await this.exec(
      'SELECT table_name, column_name, kind, position, type FROM system_schema.columns WHERE keyspace_name = ?',
      [this.keyspace(namespace)],
      { consistency: consistencies.one },
    );
    return schemasFromColumns(namespace, rs.rows as unknown as SchemaColumn[]);
  }

  /** The coordinator node's clock: `toUnixTimestamp(now())` (ms). */
  async now(): Promise<number> {
    const rs = await this.exec('SELECT toUnixTimestamp(now()) AS t FROM system.local', [], {
      consistency: consistencies.one,
    });
    const value = rs.rows[0]?.get('t') as Date | bigint | number | undefined;
    return value instanceof Date ? value.getTime() : Number(value);
  }

  async close(): Promise<void> {
    await this.client.shutdown().catch(() => {});
  }

  private async mutateOne(m: Mutation): Promise<void> {
    const info = await this.info(m.table);
    const keys = keyColumns(info.schema);
    const keyParams = keys.map((c) => toCql(m.key[c] ?? null, info.physical[c]));
    const bind = (column: string, value: Value | undefined): unknown =>
      toCql(value ?? null, info.physical[column]);
    const condition = m.condition === undefined ? undefined : ifClause(m.condition);
    const lwt = { consistency: consistencies.quorum, serialConsistency: consistencies.serial };
    let cql: string;
    let params: unknown[];
    if (m.kind === 'delete') {
      cql = `DELETE FROM ${this.qualified(m.table)} WHERE ${whereKey(keys)}${condition?.cql ?? ''}`;
      params = [...keyParams, ...(condition?.params ?? [])];
    } else if (m.condition === undefined || m.condition.kind === 'ifNotExists') {
      // Put and put-if-not-exists are INSERTs, as in ScalarDB (nulls are bound: tombstones).
      const columns = [...keys, ...Object.keys(m.values).filter((c) => !keys.includes(c))];
      cql =
        `INSERT INTO ${this.qualified(m.table)} (${columns.map(q).join(', ')}) ` +
        `VALUES (${columns.map(() => '?').join(', ')})${condition?.cql ?? ''}`;
      params = [...keyParams, ...columns.slice(keys.length).map((c) => bind(c, m.values[c]))];
    } else {
      let sets = Object.entries(m.values).filter(([c]) => !keys.includes(c));
      if (sets.length === 0 && m.condition.kind === 'ifExists') {
        if ((await this.get(m.table, m.key)) === undefined) throw this.conditionFailed(m);
        return;
      }
      if (sets.length === 0) sets = [['tx_id', conditionTxId(m.condition)]];
      if (m.condition.kind === 'ifTxIdIsNull' && (await this.get(m.table, m.key)) === undefined) {
        // `IF tx_id = null` also holds for a missing row (and the UPDATE would create it); ScalarDB's IS_NULL
        // is meant for existing imported records, so a missing record fails the condition.
        throw this.conditionFailed(m);
      }
      cql = `UPDATE ${this.qualified(m.table)} SET ${sets.map(([c]) => `${q(c)} = ?`).join(', ')} WHERE ${whereKey(keys)}${condition?.cql ?? ''}`;
      params = [...sets.map(([c, v]) => bind(c, v)), ...keyParams, ...(condition?.params ?? [])];
    }
    const rs = await this.exec(cql, params, condition === undefined ? {} : lwt, m);
    if (condition !== undefined && !rs.wasApplied()) throw this.conditionFailed(m);
  }

  private conditionFailed(m: Mutation): TransactionError {
    return new TransactionError(
      'TX_CONDITION_FAILED',
      `A mutation's condition did not hold on storage ${this.name}; it was not applied.`,
      {
        hint: 'Another transaction wrote the record first; retry the transaction.',
        context: { storage: this.name, table: fullTableName(m.table) },
      },
    );
  }

  private async info(table: TableRef): Promise<TableInfo> {
    const name = fullTableName(table);
    if (!this.tables.has(name)) {
      for (const schema of await this.listTables(table.namespace)) {
        this.tables.set(fullTableName(schema), { schema, physical: physicalColumns(schema) });
      }
    }
    const found = this.tables.get(name);
    if (found === undefined) {
      throw new TransactionError(
        'TXN_TABLE_NOT_FOUND',
        `Table ${name} is not known to storage ${this.name}.`,
        {
          hint: 'Create it first (createTable / the schema step), or check the namespace mapping of the group.',
          context: { storage: this.name, table: name, keyspace: this.keyspace(table.namespace) },
        },
      );
    }
    return found;
  }

  private async exec(
    cql: string,
    params: unknown[],
    options: cassandra.QueryOptions = {},
    mutation?: Mutation,
  ): Promise<cassandra.types.ResultSet> {
    try {
      return await this.client.execute(cql, params, { prepare: true, ...options });
    } catch (error) {
      throw this.storageError(error, mutation);
    }
  }

  /** Maps a driver error to a TransactionError code (anything unknown stays as it is). */
  storageError(error: unknown, mutation?: Mutation): unknown {
    if (error instanceof TransactionError) return error;
    const context = {
      storage: this.name,
      ...(mutation === undefined ? {} : { table: fullTableName(mutation.table) }),
    };
    const message = error instanceof Error ? error.message : String(error);
    const where = `${this.options.contactPoints.join(',')}:${this.options.port}`;
    if (error instanceof cassandra.errors.NoHostAvailableError) {
      const inner: unknown[] = Object.values((error.innerErrors ?? {}) as Record<string, unknown>);
      if (inner.some((e) => e instanceof cassandra.errors.AuthenticationError)) {
        return new TransactionError(
          'STORAGE_AUTH_FAILED',
          `Cassandra ${where} refused the credentials of storage ${this.name}: ${message}`,
          {
            hint: 'Check user and password (password, passwordEnv or passwordFile in the storage config).',
            context,
            cause: error,
          },
        );
      }
      return new TransactionError(
        'STORAGE_UNREACHABLE',
        `Cannot reach Cassandra storage ${this.name} at ${where}: ${message}`,
        {
          hint: 'Check that the nodes are up, the native transport port, and localDataCenter.',
          context,
          cause: error,
        },
      );
    }
    if (error instanceof cassandra.errors.AuthenticationError) {
      return new TransactionError(
        'STORAGE_AUTH_FAILED',
        `Cassandra ${where} refused the credentials of storage ${this.name}: ${message}`,
        {
          hint: 'Check user and password (password, passwordEnv or passwordFile in the storage config).',
          context,
          cause: error,
        },
      );
    }
    if (error instanceof cassandra.errors.ResponseError) {
      const codes = cassandra.types.responseErrorCodes;
      const code: number = error.code;
      if (
        code === Number(codes.invalid) &&
        /unconfigured table|does not exist|Keyspace .* doesn't exist/i.test(message)
      ) {
        return new TransactionError(
          'TXN_TABLE_NOT_FOUND',
          `A table of Cassandra storage ${this.name} does not exist: ${message}`,
          {
            hint: 'Create the tables first, or check the namespace mapping of the group.',
            context,
            cause: error,
          },
        );
      }
      const contended =
        code === Number(codes.writeTimeout) ||
        code === Number(codes.readTimeout) ||
        code === Number(codes.unavailableException);
      if (contended && mutation?.condition !== undefined) {
        // A timed-out LWT may or may not have applied (Paxos contention or a slow replica): ScalarDB reports it
        // retriable; the transaction layer re-reads before deciding anything.
        return new TransactionError(
          'TX_COMMIT_UNKNOWN',
          `A conditional write on storage ${this.name} timed out; it may have applied: ${message}`,
          {
            hint: 'Lazy recovery decides the record; retry the transaction.',
            context,
            cause: error,
          },
        );
      }
      if (contended) {
        return new TransactionError(
          'TX_CONFLICT',
          `Storage ${this.name} could not reach enough replicas: ${message}`,
          {
            hint: 'Retry; check that a quorum of replicas is up.',
            context,
            cause: error,
          },
        );
      }
    }
    return error;
  }
}

/** The tx_id a condition pins (an UPDATE with nothing else to set rewrites it with the same value). */
function conditionTxId(condition: NonNullable<Mutation['condition']>): string | null {
  return condition.kind === 'ifTxId' || condition.kind === 'ifTxIdAndState' ? condition.txId : null;
}
