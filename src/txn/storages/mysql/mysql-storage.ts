/**
 * MySQL and MariaDB through a `mysql2/promise` pool. MySQL has no schemas inside a database, so a
 * namespace is a database. Key TEXT columns are VARCHAR(128) (InnoDB cannot index unbounded TEXT; ScalarDB
 * uses the same size) and tables use utf8mb4_bin so key comparison is exact, as in the other stores.
 */
import mysql from 'mysql2/promise';
import type { ColumnType, TableRef, Value } from '../../contract.ts';
import { connectionError } from '../connection-errors.ts';
import {
  checkAffected,
  errorCode,
  type SqlDialect,
  type SqlExecutor,
  type SqlStep,
} from '../sql/sql-dialect.ts';
import { SqlStorageBase } from '../sql/sql-storage.ts';
import { toBuffer } from '../sql/values.ts';

export interface MysqlStorageOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database?: string;
  readonly password?: string;
  /** Deadline to open a connection. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Deadline of every statement. Default 30 000 ms. */
  readonly queryTimeoutMs?: number;
  /** Pool size. Default 10. */
  readonly maxConnections?: number;
}

const quote = (identifier: string) => `\`${identifier.replaceAll('`', '``')}\``;

const MYSQL_TYPES: Record<ColumnType, string> = {
  TEXT: 'LONGTEXT',
  INT: 'INT',
  BIGINT: 'BIGINT',
  BOOLEAN: 'BOOLEAN',
  DOUBLE: 'DOUBLE',
  BLOB: 'LONGBLOB',
};

export const mysqlDialect: SqlDialect = {
  kind: 'mysql',
  quote,
  tableName: (ref: TableRef) => `${quote(ref.namespace)}.${quote(ref.table)}`,
  createNamespace: (namespace) => [
    `CREATE DATABASE IF NOT EXISTS ${quote(namespace)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
  ],
  columnType(type, isKey) {
    if (isKey && type === 'TEXT') return 'VARCHAR(128)';
    if (isKey && type === 'BLOB') return 'VARBINARY(128)';
    return MYSQL_TYPES[type];
  },
  tableOptions: ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
  placeholder: () => '?',
  upsert(table, columns, keyColumns, update) {
    const values = columns.map(() => '?').join(', ');
    // A key-only upsert still needs an assignment: re-assign the first key column to itself.
    const sets =
      update.length === 0
        ? [keyColumns[0] ?? columns[0] ?? ''].map((c) => `${quote(c)} = ${quote(c)}`)
        : update.map((c) => `${quote(c)} = VALUES(${quote(c)})`);
    return `INSERT INTO ${table} (${columns.map(quote).join(', ')}) VALUES (${values}) ON DUPLICATE KEY UPDATE ${sets.join(', ')}`;
  },
  nowSql: `SELECT CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED) AS now_ms`,
  toDb(value: Value): unknown {
    if (typeof value === 'bigint') return value.toString();
    return toBuffer(value);
  },
  isUniqueViolation: (error) => ['ER_DUP_ENTRY', '1062'].includes(errorCode(error) ?? ''),
  // 1213 deadlock, 1205 lock wait timeout.
  isLockConflict: (error) =>
    ['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', '1213', '1205'].includes(errorCode(error) ?? ''),
};

class MysqlExecutor implements SqlExecutor {
  constructor(
    private readonly pool: mysql.Pool,
    private readonly timeout: number,
  ) {}

  async query(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    const [rows] = await this.pool.query({ sql, values: [...params], timeout: this.timeout });
    return rows as Record<string, unknown>[];
  }

  private async exec(conn: mysql.Pool | mysql.PoolConnection, step: SqlStep): Promise<void> {
    const [result] = await conn.query({ sql: step.sql, values: [...step.params], timeout: this.timeout });
    checkAffected(step, (result as mysql.ResultSetHeader).affectedRows);
  }

  async runBatch(steps: readonly SqlStep[]): Promise<void> {
    if (steps.length === 1 && steps[0] !== undefined) return this.exec(this.pool, steps[0]);
    const conn = await this.pool.getConnection();
    let broken = false;
    try {
      await conn.beginTransaction();
      for (const step of steps) await this.exec(conn, step);
      await conn.commit();
    } catch (error) {
      await conn.rollback().catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  async ddl(statements: readonly string[]): Promise<void> {
    for (const sql of statements) await this.pool.query({ sql, timeout: this.timeout });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Connects (and checks the connection) to MySQL/MariaDB as a Storage. */
export async function openMysqlStorage(name: string, options: MysqlStorageOptions): Promise<SqlStorageBase> {
  const pool = mysql.createPool({
    host: options.host,
    port: options.port,
    user: options.user,
    password: options.password,
    database: options.database,
    connectionLimit: options.maxConnections ?? 10,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // FOUND_ROWS: UPDATE reports matched rows, not changed rows, so a condition that holds never reads as 0.
    flags: ['FOUND_ROWS'],
    supportBigNumbers: true,
    bigNumberStrings: false,
    timezone: 'Z',
  });
  try {
    await pool.query({ sql: 'SELECT 1', timeout: options.connectTimeoutMs ?? 10_000 });
  } catch (error) {
    await pool.end().catch(() => {});
    throw connectionError(error, {
      storage: name,
      kind: 'mysql',
      host: options.host,
      port: options.port,
      user: options.user,
      ...(options.database === undefined ? {} : { database: options.database }),
    });
  }
  return new SqlStorageBase(name, mysqlDialect, new MysqlExecutor(pool, options.queryTimeoutMs ?? 30_000));
}
