/**
 * PostgreSQL through a `pg` Pool. A namespace is a schema. int8 is parsed to a number where it is safe
 * (epoch ms always is) instead of pg's default string, so values look the same as from the other stores.
 */
import pg from 'pg';
import type { ColumnType, TableRef, Value } from '../../contract.ts';
import {
  checkAffected,
  errorCode,
  quoteDouble,
  type SqlDialect,
  type SqlExecutor,
  type SqlStep,
} from '../sql/sql-dialect.ts';
import { SqlStorageBase } from '../sql/sql-storage.ts';
import { toBuffer } from '../sql/values.ts';
import { connectionError } from '../connection-errors.ts';

export interface PostgresStorageOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password?: string;
  /** Deadline to open a connection. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Deadline of every statement. Default 30 000 ms. */
  readonly queryTimeoutMs?: number;
  /** Pool size. Default 10. */
  readonly maxConnections?: number;
}

const PG_TYPES: Record<ColumnType, string> = {
  TEXT: 'TEXT',
  INT: 'INT',
  BIGINT: 'BIGINT',
  BOOLEAN: 'BOOLEAN',
  DOUBLE: 'DOUBLE PRECISION',
  BLOB: 'BYTEA',
};

export const postgresDialect: SqlDialect = {
  kind: 'postgres',
  quote: quoteDouble,
  tableName: (ref: TableRef) => `${quoteDouble(ref.namespace)}.${quoteDouble(ref.table)}`,
  createNamespace: (namespace) => [`CREATE SCHEMA IF NOT EXISTS ${quoteDouble(namespace)}`],
  columnType: (type) => PG_TYPES[type],
  tableOptions: '',
  placeholder: (index) => `$${index}`,
  upsert(table, columns, keyColumns, update) {
    const values = columns.map((_, i) => `$${i + 1}`).join(', ');
    const onConflict =
      update.length === 0
        ? 'DO NOTHING'
        : `DO UPDATE SET ${update.map((c) => `${quoteDouble(c)} = EXCLUDED.${quoteDouble(c)}`).join(', ')}`;
    return `INSERT INTO ${table} (${columns.map(quoteDouble).join(', ')}) VALUES (${values}) ON CONFLICT (${keyColumns.map(quoteDouble).join(', ')}) ${onConflict}`;
  },
  nowSql: `SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT AS now_ms`,
  toDb(value: Value): unknown {
    if (typeof value === 'bigint') return value.toString();
    return toBuffer(value);
  },
  isUniqueViolation: (error) => errorCode(error) === '23505',
  // 40P01 deadlock, 40001 serialization failure, 55P03 lock not available.
  isLockConflict: (error) => ['40P01', '40001', '55P03'].includes(errorCode(error) ?? ''),
};

const INT8_OID = 20;

/** int8 → number when safe, else bigint (pg's default is a string). */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) {
      return (text: string) => {
        const big = BigInt(text);
        return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER)
          ? Number(big)
          : big;
      };
    }
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};

export class PostgresExecutor implements SqlExecutor {
  constructor(private readonly pool: pg.Pool) {}

  async query(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    const result = await this.pool.query(sql, [...params]);
    return result.rows as Record<string, unknown>[];
  }

  async runBatch(steps: readonly SqlStep[]): Promise<void> {
    if (steps.length === 1 && steps[0] !== undefined) {
      const step = steps[0];
      checkAffected(step, (await this.pool.query(step.sql, [...step.params])).rowCount ?? 0);
      return;
    }
    // A checked-out client has no listener of the pool's: a server restart (57P01) or a cut socket would emit
    // an unhandled 'error' and kill the process. The failing query rejects on its own; here we only note that
    // this connection is dead so it is destroyed, not returned to the pool.
    let broken = false;
    const onError = (): void => {
      broken = true;
    };
    // The listener goes on inside the pool's callback, not after `await pool.connect()`: a new connection's
    // ReadyForQuery and the server's FATAL (a shutdown) can arrive in one TCP read, and the parser emits the
    // error in the same tick as the checkout — before an awaiting caller resumes.
    const client = await new Promise<pg.PoolClient>((resolve, reject) => {
      this.pool.connect((error, checkedOut) => {
        if (error || !checkedOut) return reject(error ?? new Error('pool returned no client'));
        checkedOut.on('error', onError);
        resolve(checkedOut);
      });
    });
    try {
      await client.query('BEGIN');
      for (const step of steps)
        checkAffected(step, (await client.query(step.sql, [...step.params])).rowCount ?? 0);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async ddl(statements: readonly string[]): Promise<void> {
    for (const sql of statements) {
      try {
        await this.pool.query(sql);
      } catch (error) {
        // Two processes creating the same schema/table at once: IF NOT EXISTS still races on the catalog
        // (unique violation on pg_namespace / pg_type); the object exists either way.
        if (!['23505', '42P06', '42P07'].includes(errorCode(error) ?? '')) throw error;
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Connects (and checks the connection with `SELECT 1`) to PostgreSQL as a Storage. */
export async function openPostgresStorage(
  name: string,
  options: PostgresStorageOptions,
): Promise<SqlStorageBase> {
  const pool = new pg.Pool({
    host: options.host,
    port: options.port,
    user: options.user,
    database: options.database,
    password: options.password,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    query_timeout: options.queryTimeoutMs ?? 30_000,
    types,
  });
  // An idle client losing its server (a restart, a cut socket) must not crash the process: the pool drops
  // that client and the next query opens a fresh connection (or reports STORAGE_CONNECTION_LOST).
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw connectionError(error, {
      storage: name,
      kind: 'postgres',
      host: options.host,
      port: options.port,
      user: options.user,
      database: options.database,
    });
  }
  return new SqlStorageBase(name, postgresDialect, new PostgresExecutor(pool));
}
