/**
 * The narrow Azure Resource Manager surface the `azure-flexible` engine needs for one flavour of flexible
 * server (PostgreSQL or MySQL): read a server, create one by point-in-time restore, read the service
 * clock. Implemented by ./arm-control-plane.ts over the real @azure/arm-* clients; tests point those at the
 * honestly named fake src/lab/fakes/azure-flexible-fake.ts.
 */

export interface FlexibleServer {
  readonly name: string;
  /** ARM id: /subscriptions/…/resourceGroups/…/providers/Microsoft.DBforMySQL/flexibleServers/<name> */
  readonly id: string;
  /** Ready | Starting | Updating | Stopped | Disabled | Dropping … */
  readonly state: string;
  readonly location: string;
  readonly host?: string;
  readonly backupRetentionDays: number;
  /** Epoch ms, service clock. */
  readonly earliestRestorableMs?: number;
  readonly sku?: { readonly name: string; readonly tier: string };
  /** VNet integration: delegated subnet and private DNS zone ids (absent: public access). */
  readonly subnetId?: string;
  readonly privateDnsZoneId?: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface FlexibleRestoreRequest {
  readonly source: FlexibleServer;
  readonly target: string;
  /** Epoch ms, service clock. */
  readonly atMs: number;
  readonly tags: Readonly<Record<string, string>>;
}

export interface FlexibleControlPlane {
  /** undefined when the server does not exist. */
  getServer(name: string): Promise<FlexibleServer | undefined>;
  /** PUT createMode=PointInTimeRestore: starts the long-running create and returns once ARM accepted it. */
  restoreServer(request: FlexibleRestoreRequest): Promise<void>;
  /** One round trip reading the ARM Date header: epoch ms and resolution. */
  serviceTime(): Promise<{ readonly nowMs: number; readonly resolutionMs: number }>;
  close(): Promise<void>;
}
