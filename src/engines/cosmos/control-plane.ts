/**
 * The narrow Cosmos DB management plane the engine needs (continuous backup, restorable ranges, restore into
 * a new account, consistency, stored procedures, keys, the service clock). Implemented over Azure Resource
 * Manager by ./arm-control-plane.ts; in tests that same adapter talks to the honestly named fake
 * src/lab/fakes/cosmos-management-fake.ts.
 */

export interface CosmosAccount {
  readonly name: string;
  readonly documentEndpoint: string;
  readonly location: string;
  /** `Continuous` when point-in-time restore is possible. */
  readonly backupPolicy: string;
  readonly defaultConsistency: string;
  readonly provisioningState: string;
  /** The id restorable-account APIs know the account by. */
  readonly instanceId?: string;
}

export interface StoredProcedure {
  readonly id: string;
  readonly body: string;
}

export interface CosmosControlPlane {
  /** undefined when the account does not exist. */
  getAccount(account: string): Promise<CosmosAccount | undefined>;
  /** Containers of one SQL database (empty when the database does not exist). */
  listContainers(account: string, database: string): Promise<string[]>;
  listStoredProcedures(account: string, database: string, container: string): Promise<StoredProcedure[]>;
  putStoredProcedure(
    account: string,
    database: string,
    container: string,
    sp: StoredProcedure,
  ): Promise<void>;
  /** Epoch ms (service clock) up to which the container can be restored. */
  latestRestorableMs(account: string, database: string, container: string): Promise<number>;
  /** The oldest restorable time of the account (service clock), undefined if it is not restorable. */
  oldestRestorableMs(source: CosmosAccount): Promise<number | undefined>;
  /** Starts creating `target` in Restore mode from `source` as of `atMs`; returns the account as it is (Creating). */
  restoreAccount(source: CosmosAccount, target: string, atMs: number): Promise<CosmosAccount>;
  setStrongConsistency(account: string): Promise<void>;
  /** The account's primary read-write key. */
  primaryKey(account: string): Promise<string>;
  /** One round trip that reads the service clock: its time and resolution in ms. */
  serviceTime(): Promise<{ readonly nowMs: number; readonly resolutionMs: number }>;
  close(): Promise<void>;
}
