/**
 * The narrow RDS control plane the `rds` engine needs: describe an instance or an Aurora cluster, restore
 * one to a point in time (always into a NEW resource), add an instance to a restored cluster, and read the
 * service clock. Implemented against AWS by ./aws-control-plane.ts (the real SDK); tests point that same
 * adapter at the honestly named fake src/lab/fakes/rds-control-plane-fake.ts.
 */

export interface RdsTag {
  readonly key: string;
  readonly value: string;
}

/** What a restore copies from the source: RDS does not carry these over unless asked. */
export interface RdsPlacement {
  readonly parameterGroup?: string;
  readonly subnetGroup?: string;
  readonly securityGroupIds: readonly string[];
  readonly tags: readonly RdsTag[];
}

export interface RdsEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface RdsResource extends RdsPlacement {
  readonly id: string;
  /** `available`, `creating`, `backing-up`, `modifying`, … */
  readonly status: string;
  /** postgres | mysql | mariadb | aurora-postgresql | aurora-mysql */
  readonly engine: string;
  readonly endpoint?: RdsEndpoint;
  /** 0 = automated backups off. */
  readonly backupRetentionDays: number;
  /** Epoch ms, service clock. */
  readonly latestRestorableMs?: number;
  readonly earliestRestorableMs?: number;
  /** Instances only. */
  readonly instanceClass?: string;
}

export interface PointInTimeRestoreRequest extends RdsPlacement {
  readonly source: string;
  readonly target: string;
  /** Epoch ms, service clock. */
  readonly atMs: number;
  readonly instanceClass?: string;
}

export interface RdsControlPlane {
  /** undefined when the instance does not exist. */
  describeInstance(id: string): Promise<RdsResource | undefined>;
  /** undefined when the cluster does not exist. */
  describeCluster(id: string): Promise<RdsResource | undefined>;
  /** RestoreDBInstanceToPointInTime: starts creating `target`; returns at once. */
  restoreInstanceToTime(request: PointInTimeRestoreRequest): Promise<void>;
  /** RestoreDBClusterToPointInTime: creates the cluster (no instance in it yet). */
  restoreClusterToTime(request: PointInTimeRestoreRequest): Promise<void>;
  /** CreateDBInstance in a (restored) Aurora cluster. */
  createClusterInstance(request: {
    readonly cluster: string;
    readonly instance: string;
    readonly instanceClass: string;
    readonly engine: string;
    readonly tags: readonly RdsTag[];
  }): Promise<void>;
  /** ModifyDBInstance NewDBInstanceIdentifier, ApplyImmediately: renames an instance (its endpoint follows). */
  renameInstance(id: string, newId: string): Promise<void>;
  /** One round trip reading the service clock (the HTTP Date header): epoch ms and resolution. */
  serviceTime(): Promise<{ readonly nowMs: number; readonly resolutionMs: number }>;
  close(): Promise<void>;
}
