/**
 * The {@link Storage} contract over any SQL database, written once: conditional puts become INSERT (for
 * if-not-exists) or UPDATE … WHERE key AND condition (zero rows = failed condition), a batch runs in one
 * SQL transaction, and rows are normalised by the declared column types (read from the metadata table).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionError } from '../../../errors.ts';
import type {
  ColumnType,
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
import {
  VIRTUAL_TABLES,
  joinVirtualTables,
  metadataDdl,
  metadataQuery,
  metadataSteps,
  schemasFromMetadata,
} from './metadata.ts';
import {
  ConditionNotMet,
  guardExecutor,
  withPhysicalNames,
  type SqlDialect,
  type SqlExecutor,
  type SqlStep,
} from './sql-dialect.ts';
import { normalizeRow } from './values.ts';

/** Attempts at writing a table's metadata when concurrent creators deadlock. */
const CREATE_ATTEMPTS = 5;

/** Rows per page in `scanAll`. */
const SCAN_PAGE = 500;

interface TableInfo {
  readonly schema: TableSchema;
  readonly physical: Readonly<Record<string, ColumnType>>;
  readonly keys: readonly string[];
}

export class SqlStorageBase implements Storage {
  readonly capabilities: StorageCapabilities = { atomicity: 'storage', transactionalSnapshot: true };
  private readonly tablesCache = new Map<string, TableInfo>();
  private metadataReady = false;
  protected readonly executor: SqlExecutor;

  constructor(
    readonly name: string,
    protected dialect: SqlDialect,
    executor: SqlExecutor,
  ) {
    this.executor = guardExecutor(executor, dialect, name);
  }

  usePhysicalNames(names: Readonly<Record<string, string>>): void {
    this.dialect = withPhysicalNames(this.dialect, names);
    this.tablesCache.clear();
    this.metadataReady = false;
  }

  async get(table: TableRef, key: Key): Promise<Row | undefined> {
    const info = await this.info(table);
    const params: unknown[] = [];
    const where = this.keyWhere(info.keys, key, params);
    const rows = await this.executor.query(
      `SELECT * FROM ${this.dialect.tableName(table)} WHERE ${where}`,
      params,
    );
    const row = rows[0];
    return row === undefined ? undefined : normalizeRow(row, info.physical);
  }

  async scan(table: TableRef, partitionKey: Key, options: ScanOptions = {}): Promise<Row[]> {
    const info = await this.info(table);
    const params: unknown[] = [];
    const where = this.keyWhere(info.schema.partitionKey, partitionKey, params);
    const order = info.schema.clusteringKey.map((c) => this.dialect.quote(c)).join(', ');
    const limit = options.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(options.limit))}`;
    const sql = `SELECT * FROM ${this.dialect.tableName(table)} WHERE ${where}${order ? ` ORDER BY ${order}` : ''}${limit}`;
    return (await this.executor.query(sql, params)).map((r) => normalizeRow(r, info.physical));
  }

  async *scanAll(table: TableRef): AsyncIterable<Row> {
    const info = await this.info(table);
    const cols = info.keys.map((c) => this.dialect.quote(c)).join(', ');
    let after: unknown[] | undefined;
    for (;;) {
      const params = after ?? [];
      const where =
        after === undefined
          ? ''
          : ` WHERE (${cols}) > (${params.map((_, i) => this.dialect.placeholder(i + 1)).join(', ')})`;
      const sql = `SELECT * FROM ${this.dialect.tableName(table)}${where} ORDER BY ${cols} LIMIT ${SCAN_PAGE}`;
      const rows = await this.executor.query(sql, params);
      for (const row of rows) yield normalizeRow(row, info.physical);
      const last = rows.at(-1);
      if (rows.length < SCAN_PAGE || last === undefined) return;
      after = info.keys.map((c) => last[c]);
    }
  }

  async mutate(mutations: readonly Mutation[]): Promise<void> {
    if (mutations.length === 0) return;
    const steps: SqlStep[] = [];
    for (const m of mutations) steps.push(this.step(m, await this.info(m.table)));
    try {
      await this.executor.runBatch(steps);
    } catch (error) {
      throw this.mutateError(error, mutations);
    }
  }

  async createTable(schema: TableSchema): Promise<void> {
    await this.ensureMetadata();
    const physical = physicalColumns(schema);
    const keys = keyColumns(schema);
    const q = (c: string) => this.dialect.quote(c);
    const cols = Object.entries(physical).map(
      ([c, t]) =>
        `${q(c)} ${this.dialect.columnType(t, keys.includes(c))}${keys.includes(c) ? ' NOT NULL' : ''}`,
    );
    const ddl = `CREATE TABLE IF NOT EXISTS ${this.dialect.tableName(schema)} (${cols.join(', ')}, PRIMARY KEY (${keys.map(q).join(', ')}))${this.dialect.tableOptions}`;
    await this.executor.ddl([...this.dialect.createNamespace(schema.namespace), ddl]);
    // Several node processes may create the same tables at start-up; their metadata upserts can deadlock.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.executor.runBatch(metadataSteps(this.dialect, schema));
        break;
      } catch (error) {
        if (attempt >= CREATE_ATTEMPTS || !this.dialect.isLockConflict(error))
          throw this.mutateError(error, []);
        await sleep(50 * attempt);
      }
    }
    this.tablesCache.set(fullTableName(schema), { schema, physical, keys });
  }

  async listTables(namespace: string): Promise<TableSchema[]> {
    const all = await this.readMetadata();
    return all.filter((t) => t.schema.namespace === namespace).map((t) => t.schema);
  }

  async now(): Promise<number> {
    const rows = await this.executor.query(this.dialect.nowSql);
    return Number(rows[0]?.now_ms);
  }

  async close(): Promise<void> {
    await this.executor.close();
  }

  /** Schema and types of a table: cached, else read from the metadata table (another process may have created it). */
  private async info(table: TableRef): Promise<TableInfo> {
    const name = fullTableName(table);
    const cached = this.tablesCache.get(name);
    if (cached !== undefined) return cached;
    await this.readMetadata();
    const found = this.tablesCache.get(name);
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

  private async readMetadata(): Promise<TableInfo[]> {
    let rows: Record<string, unknown>[];
    try {
      rows = await this.executor.query(metadataQuery(this.dialect));
    } catch (error) {
      // A database nobody created tables in has no metadata table yet: it holds no tables.
      if (!this.metadataReady && (await this.metadataMissing())) return [];
      throw error;
    }
    this.metadataReady = true;
    const infos = joinVirtualTables(schemasFromMetadata(rows), await this.virtualTables()).map(
      ({ schema, physical }) => ({
        schema,
        physical,
        keys: keyColumns(schema),
      }),
    );
    for (const info of infos) this.tablesCache.set(fullTableName(info.schema), info);
    return infos;
  }

  /** The rows of ScalarDB's virtual_tables (metadata decoupling); none when the table does not exist. */
  private async virtualTables(): Promise<Record<string, unknown>[]> {
    try {
      return await this.executor.query(`SELECT * FROM ${this.dialect.tableName(VIRTUAL_TABLES)}`);
    } catch {
      return [];
    }
  }

  private async metadataMissing(): Promise<boolean> {
    try {
      await this.executor.query(
        `SELECT 1 FROM ${this.dialect.tableName({ namespace: 'scalardb', table: 'metadata' })} WHERE 1 = 0`,
      );
      return false;
    } catch {
      return true;
    }
  }

  private async ensureMetadata(): Promise<void> {
    if (this.metadataReady) return;
    await this.executor.ddl(metadataDdl(this.dialect));
    this.metadataReady = true;
  }

  private keyWhere(columns: readonly string[], key: Key, params: unknown[]): string {
    return columns
      .map((c) => {
        const value = key[c];
        if (value === undefined || value === null) {
          throw new TransactionError('TXN_BAD_KEY', `Key column ${c} is missing.`, {
            hint: 'Give every key column a non-null value.',
            context: { column: c },
          });
        }
        params.push(this.dialect.toDb(value));
        return `${this.dialect.quote(c)} = ${this.dialect.placeholder(params.length)}`;
      })
      .join(' AND ');
  }

  private conditionSql(condition: Condition | undefined, params: unknown[]): string {
    const q = (c: string) => this.dialect.quote(c);
    const p = (v: unknown) => {
      params.push(v);
      return this.dialect.placeholder(params.length);
    };
    switch (condition?.kind) {
      case undefined:
      case 'ifExists':
        return '';
      case 'ifTxId':
        return ` AND ${q('tx_id')} = ${p(condition.txId)}`;
      case 'ifTxIdIsNull':
        return ` AND ${q('tx_id')} IS NULL`;
      case 'ifTxIdAndState':
        return ` AND ${q('tx_id')} = ${p(condition.txId)} AND ${q('tx_state')} = ${p(condition.state)}`;
      case 'ifNotExists':
        throw new TransactionError('TXN_BAD_CONDITION', 'ifNotExists is only valid on a put.', {
          hint: 'This is a bug in the caller.',
        });
    }
  }

  private step(m: Mutation, info: TableInfo): SqlStep {
    const table = this.dialect.tableName(m.table);
    const q = (c: string) => this.dialect.quote(c);
    if (m.kind === 'delete') {
      const params: unknown[] = [];
      const where = this.keyWhere(info.keys, m.key, params) + this.conditionSql(m.condition, params);
      return { sql: `DELETE FROM ${table} WHERE ${where}`, params, mustAffect: m.condition !== undefined };
    }
    const valueCols = Object.keys(m.values).filter((c) => !info.keys.includes(c));
    if (m.condition === undefined || m.condition.kind === 'ifNotExists') {
      const cols = [...info.keys, ...valueCols];
      const params = [...info.keys.map((c) => m.key[c]), ...valueCols.map((c) => m.values[c])].map((v) =>
        this.dialect.toDb(v ?? null),
      );
      const sql =
        m.condition === undefined
          ? this.dialect.upsert(table, cols, info.keys, valueCols)
          : `INSERT INTO ${table} (${cols.map(q).join(', ')}) VALUES (${cols.map((_, i) => this.dialect.placeholder(i + 1)).join(', ')})`;
      return { sql, params, mustAffect: false };
    }
    const params: unknown[] = [];
    const sets =
      valueCols.length === 0
        ? [`${q(info.keys[0] ?? '')} = ${q(info.keys[0] ?? '')}`]
        : valueCols.map((c) => {
            params.push(this.dialect.toDb(m.values[c] ?? null));
            return `${q(c)} = ${this.dialect.placeholder(params.length)}`;
          });
    const where = this.keyWhere(info.keys, m.key, params) + this.conditionSql(m.condition, params);
    return { sql: `UPDATE ${table} SET ${sets.join(', ')} WHERE ${where}`, params, mustAffect: true };
  }

  private mutateError(error: unknown, mutations: readonly Mutation[]): unknown {
    if (error instanceof TransactionError) return error;
    const context = { storage: this.name, mutations: mutations.length };
    if (error instanceof ConditionNotMet || this.dialect.isUniqueViolation(error)) {
      return new TransactionError(
        'TX_CONDITION_FAILED',
        `A mutation's condition did not hold on storage ${this.name}; nothing was applied.`,
        {
          hint: 'Another transaction wrote the record first; retry the transaction.',
          context,
          cause: error,
        },
      );
    }
    if (this.dialect.isLockConflict(error)) {
      return new TransactionError(
        'TX_CONFLICT',
        `Storage ${this.name} refused the batch because of a lock conflict; nothing was applied.`,
        {
          hint: 'Retry the transaction.',
          context,
          cause: error,
        },
      );
    }
    return error;
  }
}
