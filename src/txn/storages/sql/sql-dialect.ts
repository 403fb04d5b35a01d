/**
 * What differs between the SQL databases we store records in: identifier quoting, table naming per
 * namespace, placeholders, column types, upsert syntax and how driver errors are told apart. The
 * storage logic itself ({@link SqlStorageBase}) is written once against this and an {@link SqlExecutor}.
 */
import { TransactionError } from '../../../errors.ts';
import type { ColumnType, TableRef, Value } from '../../contract.ts';

export interface SqlDialect {
  readonly kind: 'sqlite' | 'postgres' | 'mysql';
  /** Quoted identifier. */
  quote(identifier: string): string;
  /** Quoted, namespace-qualified table name (schema.table, db.table, or `ns$table` for SQLite). */
  tableName(ref: TableRef): string;
  /** Statements that make sure a namespace exists (none for SQLite). */
  createNamespace(namespace: string): string[];
  /** Column type in DDL; `isKey` matters where the database cannot index unbounded text (MySQL). */
  columnType(type: ColumnType, isKey: boolean): string;
  /** Suffix after the CREATE TABLE column list (engine, charset). */
  readonly tableOptions: string;
  /** Placeholder for the i-th (1-based) parameter. */
  placeholder(index: number): string;
  /**
   * INSERT … or update the `update` columns on a key collision. `columns` get placeholders in order.
   */
  upsert(
    table: string,
    columns: readonly string[],
    keyColumns: readonly string[],
    update: readonly string[],
  ): string;
  /** A query returning one row with column `now_ms`: the server clock in epoch ms. */
  readonly nowSql: string;
  /** A JS value as the driver wants it bound. */
  toDb(value: Value): unknown;
  /** The error is a primary-key (unique) violation. */
  isUniqueViolation(error: unknown): boolean;
  /** The error is a lock conflict the database resolved by failing us (deadlock, busy, serialization). */
  isLockConflict(error: unknown): boolean;
}

/**
 * The dialect with some namespaces under other physical names (GroupConfig.renames): only the identifiers
 * in SQL change; table refs, metadata rows and records keep the logical names.
 */
export function withPhysicalNames(dialect: SqlDialect, names: Readonly<Record<string, string>>): SqlDialect {
  const physical = (namespace: string): string => names[namespace] ?? namespace;
  return {
    ...dialect,
    tableName: (ref) => dialect.tableName({ namespace: physical(ref.namespace), table: ref.table }),
    createNamespace: (namespace) => dialect.createNamespace(physical(namespace)),
  };
}

/** One statement of an atomic batch; `mustAffect` makes zero affected rows a failed condition. */
export interface SqlStep {
  readonly sql: string;
  readonly params: readonly unknown[];
  readonly mustAffect: boolean;
}

/** Runs SQL; implementations own their connections. */
export interface SqlExecutor {
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs the statements in ONE database transaction; throws {@link ConditionNotMet} or the driver's error. */
  runBatch(steps: readonly SqlStep[]): Promise<void>;
  /** Runs DDL statements one by one (outside a transaction where the database requires it). */
  ddl(statements: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by executors when a `mustAffect` step affected nothing (converted to TX_CONDITION_FAILED). */
export class ConditionNotMet extends Error {
  constructor(readonly step: SqlStep) {
    super('condition not met');
  }
}

/** Shared by executors: a step that must affect a row and did not. */
export function checkAffected(step: SqlStep, affected: number): void {
  if (step.mustAffect && affected === 0) throw new ConditionNotMet(step);
}

/** Driver error code (`code` or `errno`), as a string, if any. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; errno?: unknown };
  if (typeof e.code === 'string') return e.code;
  if (typeof e.errno === 'number') return String(e.errno);
  return undefined;
}

/** Standard double-quote identifier quoting (PostgreSQL, SQLite). */
export function quoteDouble(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

// Codes meaning "the server is gone or did not answer in time" rather than "the statement was wrong".
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  // MariaDB/MySQL: server shutting down (1053), connection killed (1927).
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  '1053',
  '1927',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
]);

/**
 * Wraps an executor so driver failures surface as TransactionErrors (`STORAGE_CONNECTION_LOST` when the
 * server is gone, restarting or timed out — retriable: the pools reconnect on the next call —
 * `STORAGE_FAILED` otherwise), except the ones the storage turns into condition failures or conflicts itself.
 * (Opening a storage reports an unreachable server as `STORAGE_UNREACHABLE`, see ../connection-errors.ts.)
 */
export function guardExecutor(executor: SqlExecutor, dialect: SqlDialect, storage: string): SqlExecutor {
  const wrap = (error: unknown): unknown => {
    if (error instanceof ConditionNotMet || error instanceof TransactionError) return error;
    if (dialect.isUniqueViolation(error) || dialect.isLockConflict(error)) return error;
    const message = error instanceof Error ? error.message : String(error);
    const unreachable =
      UNREACHABLE_CODES.has(errorCode(error) ?? '') ||
      /connection terminated|not queryable|terminating connection|shutting down|connection lost|timeout|closed state|pool is closed/i.test(
        message,
      );
    return new TransactionError(
      unreachable ? 'STORAGE_CONNECTION_LOST' : 'STORAGE_FAILED',
      `Storage ${storage} (${dialect.kind}) failed: ${message}`,
      {
        hint: unreachable
          ? 'The connection to the database server was lost or could not be opened (a restart?); nothing of this transaction committed — retry it once the server is up.'
          : 'See the cause; this may be a schema mismatch.',
        context: { storage },
        cause: error,
      },
    );
  };
  const guard = <T>(promise: Promise<T>): Promise<T> =>
    promise.catch((error: unknown) => Promise.reject(wrap(error) as Error));
  return {
    query: (sql, params) => guard(executor.query(sql, params)),
    runBatch: (steps) => guard(executor.runBatch(steps)),
    ddl: (statements) => guard(executor.ddl(statements)),
    close: () => executor.close(),
  };
}
