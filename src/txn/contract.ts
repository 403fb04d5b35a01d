/**
 * The transaction layer: the contract of this folder.
 *
 * A {@link Storage} is one database reached through one driver (SQLite, PostgreSQL, MariaDB/MySQL, DynamoDB). It knows nothing about transactions: it offers get / scan / conditional mutations with exactly the
 * conditions Consensus Commit needs, all expressible as DynamoDB condition expressions.
 * The {@link TransactionManager} runs Consensus Commit over several storages (namespace → storage), in the
 * ScalarDB on-disk format (../../../shared/reference/transaction-format.md), so our recovery and checker
 * also work on databases written by real ScalarDB.
 */

// ---------------------------------------------------------------------------------------------------------
// Values, tables, storage configuration
// ---------------------------------------------------------------------------------------------------------

export type ColumnType = 'TEXT' | 'INT' | 'BIGINT' | 'BOOLEAN' | 'DOUBLE' | 'BLOB';
export type Value = string | number | bigint | boolean | Uint8Array | null;
export type Row = Readonly<Record<string, Value>>;

/** A user table definition (metadata and before_* columns are added by the schema manager). */
export interface TableSchema {
  readonly namespace: string;
  readonly table: string;
  readonly partitionKey: readonly string[];
  readonly clusteringKey: readonly string[];
  /** Every user column, keys included, with its type. */
  readonly columns: Readonly<Record<string, ColumnType>>;
  /** False for tables outside the protocol (the Coordinator): no tx_* / before_* columns. Default true. */
  readonly transactional?: boolean;
}

export interface TableRef {
  readonly namespace: string;
  readonly table: string;
}

/** Full primary key (partition + clustering columns) of a record. */
export type Key = Readonly<Record<string, Value>>;

/** How to reach one database. Passwords come from `passwordEnv` / `passwordFile`, never printed. */
export type StorageConfig =
  | { readonly kind: 'sqlite'; readonly path: string }
  | {
      readonly kind: 'postgres';
      readonly host: string;
      readonly port: number;
      readonly user: string;
      readonly database: string;
      readonly password?: string;
      readonly passwordEnv?: string;
      readonly passwordFile?: string;
    }
  | {
      readonly kind: 'mysql';
      readonly host: string;
      readonly port: number;
      readonly user: string;
      /** MySQL has no schemas inside a database: a namespace is a database; this one is only for connecting. */
      readonly database?: string;
      readonly password?: string;
      readonly passwordEnv?: string;
      readonly passwordFile?: string;
    }
  | {
      readonly kind: 'dynamodb';
      readonly region: string;
      /** A DynamoDB-compatible endpoint (dynalite in the lab); AWS's regional endpoint when absent. */
      readonly endpoint?: string;
      /** ScalarDB's `scalar.db.dynamo.namespace.prefix`: prepended to every physical table name. */
      readonly prefix?: string;
      /** Fixed dummy credentials, for dynalite and other local endpoints that ignore them. */
      readonly dummyCredentials?: boolean;
    }
  | {
      readonly kind: 'cosmos';
      /** The account's document endpoint, e.g. https://acct.documents.azure.com:443/. */
      readonly endpoint: string;
      /** The account key (from password / passwordEnv / passwordFile, as SQL passwords). */
      readonly password?: string;
      readonly passwordEnv?: string;
      readonly passwordFile?: string;
      /** A PEM CA bundle to trust for this endpoint only (the lab's self-signed cosmosdb-server). */
      readonly caFile?: string;
      /** Prepended to every database name (lab isolation; ScalarDB itself uses no prefix). */
      readonly prefix?: string;
      /**
       * How conditional mutations are applied (docs/decisions/0009-cosmos-mutations.md): ScalarDB's
       * `mutate.js` stored procedure (default; real Cosmos DB) or ETag-conditional writes.
       */
      readonly mutations?: 'stored-procedure' | 'etag';
    }
  | {
      readonly kind: 'cassandra';
      /** Nodes the driver contacts first (`host` or `host:port`); it discovers the rest of the ring. */
      readonly contactPoints: readonly string[];
      /** Native transport port (default 9042). */
      readonly port?: number;
      readonly localDataCenter: string;
      /** SimpleStrategy replication factor of keyspaces the layer creates (default 3, as ScalarDB). */
      readonly replicationFactor?: number;
      readonly user?: string;
      readonly password?: string;
      readonly passwordEnv?: string;
      readonly passwordFile?: string;
    };

/** A group of storages and which namespace lives where; the Coordinator is the namespace `coordinator`. */
export interface GroupConfig {
  readonly storages: Readonly<Record<string, StorageConfig>>;
  readonly namespaces: Readonly<Record<string, string>>;
  /**
   * Per storage: namespaces that live in that database under another physical name (a MariaDB database
   * or PostgreSQL schema restored as `bank_b_r_x`), including `scalardb`, the schema/database holding the
   * table catalog. Records, metadata rows and every API keep the logical names; only SQL identifiers change.
   */
  readonly renames?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

// ---------------------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------------------

/** Conditions Consensus Commit needs; each maps to one DynamoDB condition expression. */
export type Condition =
  | { readonly kind: 'ifNotExists' }
  | { readonly kind: 'ifExists' }
  | { readonly kind: 'ifTxId'; readonly txId: string }
  | { readonly kind: 'ifTxIdIsNull' }
  | { readonly kind: 'ifTxIdAndState'; readonly txId: string; readonly state: number };

/** Upsert of the given columns (others keep their value on update, are NULL on insert). */
export interface Put {
  readonly kind: 'put';
  readonly table: TableRef;
  readonly key: Key;
  readonly values: Row;
  readonly condition?: Condition;
}

export interface Delete {
  readonly kind: 'delete';
  readonly table: TableRef;
  readonly key: Key;
  readonly condition?: Condition;
}

export type Mutation = Put | Delete;

export interface StorageCapabilities {
  /** `mutate` with several mutations is atomic within this scope: 'storage' (one SQL transaction), 'partition', 'record'. */
  readonly atomicity: 'storage' | 'partition' | 'record';
  /** The database can give a consistent snapshot of all its tables at once (SQL databases). */
  readonly transactionalSnapshot: boolean;
  /** BIGINT values are limited to ±2^53 (Cosmos DB keeps JSON numbers; ScalarDB enforces the same limit). */
  readonly bigintSafeOnly?: boolean;
}

export interface ScanOptions {
  readonly limit?: number;
}

export interface Storage {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  get(table: TableRef, key: Key): Promise<Row | undefined>;
  /** Records of one partition (partition key columns given), ordered by clustering key. */
  scan(table: TableRef, partitionKey: Key, options?: ScanOptions): Promise<Row[]>;
  /** Every record of a table, in key order, in pages (for the recovery sweep and the checker). */
  scanAll(table: TableRef): AsyncIterable<Row>;
  /**
   * Applies the mutations (atomically within `capabilities.atomicity`). If any condition does not hold,
   * nothing is applied and a TransactionError `TX_CONDITION_FAILED` is thrown.
   */
  mutate(mutations: readonly Mutation[]): Promise<void>;
  /** Creates namespace and table (user columns + tx_* + before_* columns) if absent. */
  createTable(schema: TableSchema): Promise<void>;
  /** Tables of a namespace that this storage holds, as known from the database catalog. */
  listTables(namespace: string): Promise<TableSchema[]>;
  /** The database server's current time in epoch ms (used to measure clock offset). */
  now(): Promise<number>;
  /**
   * Serve these namespaces (logical → physical name; `scalardb` for the table catalog) under other physical
   * names from now on. Called once, right after opening (GroupConfig.renames). Storages that cannot rename
   * leave it undefined.
   */
  usePhysicalNames?(names: Readonly<Record<string, string>>): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------------------

/** Record states as stored (records: 1/2/3; Coordinator: 3/4). */
export const TxState = { PREPARED: 1, DELETED: 2, COMMITTED: 3, ABORTED: 4, UNKNOWN: 5 } as const;

export interface TransactionOptions {
  readonly isolation?: 'snapshot' | 'serializable';
}

/** A Consensus Commit transaction: reads go to storage (with lazy recovery), writes are buffered. */
export interface Transaction {
  readonly id: string;
  get(table: TableRef, key: Key): Promise<Row | undefined>;
  scan(table: TableRef, partitionKey: Key): Promise<Row[]>;
  put(table: TableRef, key: Key, values: Row): void;
  delete(table: TableRef, key: Key): void;
  /** Prepare → (validate) → commit-state → commit-records. Throws TransactionError `TX_CONFLICT` (retryable). */
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface TransactionManager {
  begin(options?: TransactionOptions): Promise<Transaction>;
  /** Runs `fn` in a transaction and commits; retries on retryable errors up to `retries` (default 10). */
  run<T>(
    fn: (tx: Transaction) => Promise<T>,
    options?: TransactionOptions & { readonly retries?: number },
  ): Promise<T>;
  close(): Promise<void>;
}

/** Result of the eager recovery sweep over a group. */
export interface SweepReport {
  readonly scanned: number;
  readonly rolledForward: number;
  readonly rolledBack: number;
  readonly abortedExpired: number;
  /** Records still PREPARED/DELETED (not expired, no decision) after the sweep. */
  readonly unresolved: number;
}

// ---------------------------------------------------------------------------------------------------------
// Storage groups and the transaction manager's options (added by the transaction-layer implementation)
// ---------------------------------------------------------------------------------------------------------

/** Storages opened from a {@link GroupConfig}; whoever opens it closes it. */
export interface StorageGroup {
  /** Storages by name, as in the config. */
  readonly storages: ReadonlyMap<string, Storage>;
  /** Every namespace the config maps (logical names), Coordinator included. */
  namespaces(): readonly string[];
  /** The storage holding `namespace`; ConfigError `TXN_NAMESPACE_UNMAPPED` if the config does not map it. */
  storageFor(namespace: string): Storage;
  /** Every table of every mapped namespace (Coordinator included), read back from each storage's catalog. */
  tables(): Promise<TableSchema[]>;
  /** Creates a user table in the storage its namespace maps to (metadata and before_* columns added). */
  createTable(schema: TableSchema): Promise<void>;
  /** Creates `coordinator.state` in the storage the `coordinator` namespace maps to. */
  createCoordinatorTable(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Crash-injection hooks, called at the protocol's step boundaries. Whatever a hook throws propagates out of
 * `commit()` as is and the transaction does NOTHING more (no abort, no roll back): exactly like a crash.
 */
export interface Failpoints {
  /** Every record is prepared; the Coordinator has no row yet. */
  readonly afterPrepare?: (txId: string) => void | Promise<void>;
  /** The Coordinator says COMMITTED; no record is committed yet. */
  readonly afterCommitState?: (txId: string) => void | Promise<void>;
  /** The first record is committed, the others are still PREPARED/DELETED (only called with ≥ 1 record). */
  readonly midCommitRecords?: (txId: string) => void | Promise<void>;
}

export interface TransactionManagerOptions {
  readonly group: StorageGroup;
  /** A PREPARED/DELETED record older than this (ms since tx_prepared_at) may be aborted by a reader. Default 15 000. */
  readonly expiryMs?: number;
  /** Clock in epoch ms. Default `Date.now`. */
  readonly now?: () => number;
  readonly failpoints?: Failpoints;
  /** Transaction ids. Default `crypto.randomUUID`. */
  readonly idGenerator?: () => string;
  /**
   * Record each commit's (and commit-time abort's) write set in its Coordinator row (`tx_write_set`, ScalarDB
   * 3.19's `coordinator.write_set_logging`), which Coordinator cleanup needs. Default true; logged only when the
   * Coordinator table has the column (a table ScalarDB created with the option off has none).
   */
  readonly writeSetLogging?: boolean;
}
