/**
 * SQLite through better-sqlite3. WAL mode lets several node PROCESSES share one file; a namespace is a
 * table-name prefix (`<namespace>$<table>`, ScalarDB's JDBC convention for SQLite).
 * better-sqlite3 is synchronous: every call here is one short statement or one short batch, and a batch
 * runs inside one synchronous `BEGIN IMMEDIATE` transaction so no other async work can interleave with it.
 * Waiting for another process's lock is NOT left to SQLite's busy handler, which would block the whole
 * event loop (a node's admin server included: a pause would wait behind a lock wait); a locked call fails
 * at once and is retried here after an asynchronous backoff, for up to `busyTimeoutMs`.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionError } from '../../../errors.ts';
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

export interface SqliteStorageOptions {
  readonly path: string;
  /** How long a writer waits for another process's lock before failing with TX_CONFLICT. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

export const sqliteDialect: SqlDialect = {
  kind: 'sqlite',
  quote: quoteDouble,
  tableName: (ref: TableRef) => quoteDouble(`${ref.namespace}$${ref.table}`),
  createNamespace: () => [],
  columnType: (type: ColumnType) => type,
  tableOptions: '',
  placeholder: () => '?',
  upsert(table, columns, keyColumns, update) {
    const q = columns.map(quoteDouble).join(', ');
    const values = columns.map(() => '?').join(', ');
    const onConflict =
      update.length === 0
        ? 'DO NOTHING'
        : `DO UPDATE SET ${update.map((c) => `${quoteDouble(c)} = excluded.${quoteDouble(c)}`).join(', ')}`;
    return `INSERT INTO ${table} (${q}) VALUES (${values}) ON CONFLICT (${keyColumns.map(quoteDouble).join(', ')}) ${onConflict}`;
  },
  nowSql: `SELECT CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) AS now_ms`,
  toDb(value: Value): unknown {
    if (typeof value === 'boolean') return value ? 1 : 0;
    return toBuffer(value);
  },
  isUniqueViolation: (error) =>
    errorCode(error) === 'SQLITE_CONSTRAINT_PRIMARYKEY' || errorCode(error) === 'SQLITE_CONSTRAINT_UNIQUE',
  isLockConflict: (error) =>
    errorCode(error)?.startsWith('SQLITE_BUSY') === true ||
    errorCode(error)?.startsWith('SQLITE_LOCKED') === true,
};

class SqliteExecutor implements SqlExecutor {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly busyTimeoutMs: number,
  ) {}

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      // Integers as BigInt, so values beyond 2^53 survive; rows are normalised to number where safe.
      if (statement.reader) statement.safeIntegers(true);
      // Bounded: the SQL text depends on table and column set only, but guard against unbounded variety.
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return statement;
  }

  query(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    return retryLocked(
      () => this.prepare(sql).all(...params) as Record<string, unknown>[],
      this.busyTimeoutMs,
    );
  }

  runBatch(steps: readonly SqlStep[]): Promise<void> {
    const run = this.db.transaction(() => {
      for (const step of steps) checkAffected(step, this.prepare(step.sql).run(...step.params).changes);
    });
    // IMMEDIATE takes the write lock up front: a deferred transaction that upgrades from read to write
    // fails at once with SQLITE_BUSY in WAL mode instead of waiting for the busy timeout.
    // A batch that meets a lock is rolled back whole, so running it again is safe.
    return retryLocked(() => run.immediate(), this.busyTimeoutMs);
  }

  ddl(statements: readonly string[]): Promise<void> {
    // Every statement is idempotent (IF NOT EXISTS), so a batch interrupted by a lock is simply run again.
    return retryLocked(() => {
      for (const sql of statements) this.db.exec(sql);
    }, this.busyTimeoutMs);
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}

/** SQLite's own busy wait, kept short: it blocks the event loop. */
const SYNC_BUSY_WAIT_MS = 2;

/**
 * Runs synchronous driver work; when it meets another connection's lock, retries after a jittered,
 * doubling asynchronous wait (1 ms up to 50 ms) until `budgetMs` has passed, then rejects with the lock error.
 */
async function retryLocked<T>(work: () => T, budgetMs: number): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      return work();
    } catch (error) {
      if (!sqliteDialect.isLockConflict(error) || Date.now() >= deadline)
        throw error instanceof Error ? error : new Error(String(error));
      await sleep(wait * (0.5 + Math.random()));
    }
  }
}

/** Opens (creating if absent) an SQLite file as a Storage. */
export async function openSqliteStorage(
  name: string,
  options: SqliteStorageOptions,
): Promise<SqlStorageBase> {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(options.path), { recursive: true });
    const opened = new Database(options.path, { timeout: SYNC_BUSY_WAIT_MS });
    db = opened;
    await retryLocked(() => {
      opened.pragma('journal_mode = WAL');
      opened.pragma('synchronous = NORMAL');
    }, busyTimeoutMs);
  } catch (error) {
    db?.close();
    throw new TransactionError(
      'STORAGE_UNREACHABLE',
      `Cannot open the SQLite file ${options.path}: ${(error as Error).message}`,
      {
        hint: 'Check that the directory exists and is writable.',
        context: { storage: name, path: options.path },
        cause: error,
      },
    );
  }
  return new SqlStorageBase(name, sqliteDialect, new SqliteExecutor(db, busyTimeoutMs));
}
