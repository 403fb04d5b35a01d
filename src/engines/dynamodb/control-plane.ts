/**
 * The narrow DynamoDB control plane the engine needs (PITR, restores, table lifecycle, auto-scaling, the
 * service clock). Implemented over the AWS SDK by ./aws-control-plane.ts — the only implementation: tests
 * point it at the honestly named fake src/lab/fakes/dynamodb-pitr-fake.ts, which speaks DynamoDB's and
 * Application Auto Scaling's wire protocols in front of dynalite (which has none of these APIs).
 */

export interface PitrStatus {
  readonly enabled: boolean;
  /** Epoch ms, service clock. Set when enabled. */
  readonly earliestRestorableMs?: number;
  /** Epoch ms, service clock; lags real time (about 5 minutes on AWS). */
  readonly latestRestorableMs?: number;
}

export interface TableDescription {
  readonly name: string;
  readonly status:
    | 'CREATING'
    | 'ACTIVE'
    | 'DELETING'
    | 'UPDATING'
    | 'ARCHIVING'
    | 'ARCHIVED'
    | 'INACCESSIBLE_ENCRYPTION_CREDENTIALS';
  readonly billingMode: 'PROVISIONED' | 'PAY_PER_REQUEST';
  readonly readCapacity?: number;
  readonly writeCapacity?: number;
  /** The table's ARN (tags are addressed by it). */
  readonly arn: string;
  /** The stream specification; absent when the table has no stream. */
  readonly stream?: StreamSetting;
}

export interface StreamSetting {
  readonly viewType: 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY';
}

export interface Tag {
  readonly key: string;
  readonly value: string;
}

/** An Application Auto Scaling target of a table (dimension `dynamodb:table:ReadCapacityUnits` / `…Write…`). */
export interface ScalableTarget {
  readonly dimension: 'dynamodb:table:ReadCapacityUnits' | 'dynamodb:table:WriteCapacityUnits';
  readonly min: number;
  readonly max: number;
}

export interface ScalingPolicy {
  readonly name: string;
  readonly dimension: ScalableTarget['dimension'];
  readonly targetValue: number;
}

/** The settings a restore drops and the engine re-applies (captured into the manifest at backup time). */
export interface TableSettings {
  readonly table: string;
  readonly billingMode: TableDescription['billingMode'];
  readonly readCapacity?: number;
  readonly writeCapacity?: number;
  readonly scalableTargets: readonly ScalableTarget[];
  readonly scalingPolicies: readonly ScalingPolicy[];
  /** The TTL attribute; absent when TTL is off. (Absent in manifests written before TTL was captured.) */
  readonly ttlAttribute?: string;
  readonly tags?: readonly Tag[];
  readonly stream?: StreamSetting;
}

export interface DynamoControlPlane {
  /** Physical table names starting with `prefix`. */
  listTables(prefix: string): Promise<string[]>;
  /** undefined when the table does not exist. */
  describeTable(table: string): Promise<TableDescription | undefined>;
  /** Returns once the table is gone (DeleteTable alone only starts the deletion). */
  deleteTable(table: string): Promise<void>;
  describeContinuousBackups(table: string): Promise<PitrStatus>;
  enablePitr(table: string): Promise<void>;
  /** Restores `source` as of `atMs` (service clock) into the new table `target`, which must not exist. */
  restoreTableToPointInTime(source: string, target: string, atMs: number): Promise<void>;
  /**
   * Creates `target` with the key schema and billing mode of `source` and copies every item (Scan, then
   * writes). Used to bring a restored alias back under the original name: nobody writes the alias, so the
   * copy is exact, and the deleted original's PITR history cannot be restored by name.
   */
  copyTable(source: string, target: string): Promise<void>;
  /** The TTL attribute of the table; undefined when TTL is off. */
  describeTimeToLive(table: string): Promise<string | undefined>;
  enableTimeToLive(table: string, attribute: string): Promise<void>;
  listTags(table: string): Promise<Tag[]>;
  tagTable(table: string, tags: readonly Tag[]): Promise<void>;
  /** Turns the table's stream on with `stream`'s view type (UpdateTable StreamSpecification). */
  enableStream(table: string, stream: StreamSetting): Promise<void>;
  /** UpdateTable to `settings`' billing mode and provisioned throughput (when they differ). */
  updateThroughput(table: string, settings: TableSettings): Promise<void>;
  describeScalableTargets(table: string): Promise<ScalableTarget[]>;
  describeScalingPolicies(table: string): Promise<ScalingPolicy[]>;
  registerScalableTarget(table: string, target: ScalableTarget): Promise<void>;
  putScalingPolicy(table: string, policy: ScalingPolicy): Promise<void>;
  /** One round trip that reads the service clock: its time (epoch ms) and its resolution in ms. */
  serviceTime(): Promise<{ readonly nowMs: number; readonly resolutionMs: number }>;
  close(): Promise<void>;
}
