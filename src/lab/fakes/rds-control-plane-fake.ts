/**
 * A FAKE Amazon RDS control plane, speaking the real wire protocol (AWS Query: form-encoded POST, XML
 * answers) so the product's real adapter (src/engines/rds/aws-control-plane.ts, the AWS SDK) runs against
 * it unchanged. Its data planes are REAL: an RDS for PostgreSQL instance or an Aurora PostgreSQL cluster is
 * a local PostgreSQL server with WAL archiving and a base backup (./pitr-postgres.ts); an RDS for MariaDB
 * (or MySQL) instance is a local MariaDB with the binary log on (./pitr-mariadb.ts). A point-in-time
 * restore starts a NEW local server = base + WAL/binlog replayed to the requested time. Simulated, exactly:
 *
 * - DescribeDBInstances / DescribeDBClusters (one identifier), DescribeAccountAttributes (for the clock),
 *   RestoreDBInstanceToPointInTime, RestoreDBClusterToPointInTime, CreateDBInstance (only into a cluster),
 *   ModifyDBInstance (only NewDBInstanceIdentifier, applied at once; the endpoint follows the server).
 * - A restore checks: the source exists, the target does not (…AlreadyExists), automated backups are on
 *   and the restore time lies in [earliest, LatestRestorableTime] (InvalidRestoreFault). The new resource
 *   reads `creating` until its server has left recovery, then `available`; it carries the parameter group,
 *   subnet group, security groups, tags and class the REQUEST named (like RDS: nothing is copied from the
 *   source unless asked). A restored Aurora cluster has no instance: CreateDBInstance adds one, which reads
 *   `creating` once, then `available` with the cluster's server as its endpoint.
 * - The service clock: `Date.now() + skewMs`, sent as the HTTP Date header and used for every time the API
 *   shows. The databases run on the machine clock, so a restore time T maps to T − skewMs for replay (on
 *   RDS the database and the service share one clock; the skew is between the service and us).
 * - LatestRestorableTime = service clock − `lagMs` (RDS: about five minutes).
 *
 * Not simulated: authentication (SigV4 is accepted unchecked), Aurora MySQL, reader instances, a restored
 * resource's own automated backups (retention is reported, restoring it again is refused), the
 * `renaming` status and DNS delay of a rename, and RDS's exact error messages.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import type { LocalMariaDb } from '../local-servers/mariadb-server.ts';
import { startBinloggedMariaDb } from './pitr-mariadb.ts';
import { startArchivedPostgres, type ArchivedPostgres, type PitrPostgresServer } from './pitr-postgres.ts';
import { clusterXml, esc, instanceXml, type FakeRdsResource } from './rds-control-plane-fake-xml.ts';

export interface FakeRdsInstanceSpec {
  readonly id: string;
  readonly retentionDays?: number;
  readonly instanceClass?: string;
  readonly parameterGroup?: string;
  readonly subnetGroup?: string;
  readonly securityGroupIds?: readonly string[];
  readonly tags?: readonly { key: string; value: string }[];
}

/** A server behind an instance or cluster: restored ones are destroyed by their source's `destroy`. */
type DataServer = PitrPostgresServer | LocalMariaDb;

/** Automated backups of a source resource: real PITR to a time (our clock) and everything it started. */
interface PitrSource {
  readonly earliestMs: number;
  restoreToTime(atMs: number): Promise<DataServer>;
  destroy(): Promise<void>;
}

interface FakeResource extends FakeRdsResource {
  server?: DataServer;
  pitr?: PitrSource;
  error?: string;
}

class Fault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const NS = 'http://rds.amazonaws.com/doc/2014-10-31/';

export class RdsControlPlaneFake {
  /** Service clock minus ours, ms. */
  skewMs: number;
  readonly lagMs: number;
  private readonly instances = new Map<string, FakeResource>();
  private readonly clusters = new Map<string, FakeResource>();
  private readonly pending = new Set<Promise<void>>();
  /** Every Action received, in order (tests assert the API calls a restore made). */
  readonly calls: string[] = [];
  /** Lab side: called with each Action before it runs; a throw fails that call (400, not retried). */
  beforeAction: ((action: string, form: URLSearchParams) => void) | undefined;
  /** Lab side: called after an Action ran; a throw loses its answer (400): the call landed, the caller died. */
  afterAction: ((action: string, form: URLSearchParams) => void) | undefined;

  private constructor(
    private readonly http: Server,
    options: { skewMs?: number; lagMs?: number },
  ) {
    this.skewMs = options.skewMs ?? 0;
    this.lagMs = options.lagMs ?? 1_000;
  }

  static async start(options: { skewMs?: number; lagMs?: number } = {}): Promise<RdsControlPlaneFake> {
    const http = createServer();
    const fake = new RdsControlPlaneFake(http, options);
    http.on('request', (req: IncomingMessage, res: ServerResponse) => void fake.handle(req, res));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  now(): number {
    return Date.now() + this.skewMs;
  }

  private source(spec: FakeRdsInstanceSpec, engine: string, server: DataServer, pitr: PitrSource) {
    return {
      id: spec.id,
      engine,
      retentionDays: spec.retentionDays ?? 7,
      instanceClass: spec.instanceClass ?? 'db.t3.micro',
      ...(spec.parameterGroup === undefined ? {} : { parameterGroup: spec.parameterGroup }),
      ...(spec.subnetGroup === undefined ? {} : { subnetGroup: spec.subnetGroup }),
      securityGroupIds: [...(spec.securityGroupIds ?? [])],
      tags: [...(spec.tags ?? [])],
      status: 'available',
      server,
      pitr,
      earliestMs: pitr.earliestMs + this.skewMs,
    } satisfies FakeResource;
  }

  /** Lab side: a new RDS for PostgreSQL instance (a real archived server), available at once. */
  async createPostgresInstance(spec: FakeRdsInstanceSpec): Promise<ArchivedPostgres> {
    const pg = await startArchivedPostgres();
    const pitr = {
      earliestMs: pg.baseBackupEndMs,
      restoreToTime: (t: number) => pg.restoreToTime(t),
      destroy: () => pg.destroy(),
    };
    this.instances.set(spec.id, this.source(spec, 'postgres', pg, pitr));
    return pg;
  }

  /** Lab side: a new RDS for MariaDB instance (a real binlogged MariaDB), available at once. */
  async createMariaDbInstance(spec: FakeRdsInstanceSpec): Promise<LocalMariaDb> {
    const maria = await startBinloggedMariaDb();
    const pitr = {
      earliestMs: maria.createdAtMs,
      restoreToTime: (t: number) => maria.restoreToTime(t),
      destroy: () => maria.destroy(),
    };
    this.instances.set(spec.id, this.source(spec, 'mariadb', maria.server, pitr));
    return maria.server;
  }

  /** Lab side: an Aurora PostgreSQL cluster (its storage: a real archived server), available at once. */
  async createAuroraPostgresCluster(spec: FakeRdsInstanceSpec): Promise<ArchivedPostgres> {
    const pg = await startArchivedPostgres();
    const pitr = {
      earliestMs: pg.baseBackupEndMs,
      restoreToTime: (t: number) => pg.restoreToTime(t),
      destroy: () => pg.destroy(),
    };
    this.clusters.set(spec.id, this.source(spec, 'aurora-postgresql', pg, pitr));
    return pg;
  }

  /** Lab side: ModifyDBInstance --backup-retention-period, without the API. */
  setRetentionDays(id: string, days: number): void {
    const i = this.instances.get(id) ?? this.clusters.get(id);
    if (i !== undefined) i.retentionDays = days;
  }

  /** Why a restore ended `failed` (RDS shows this only in its events). */
  failure(id: string): string | undefined {
    return (this.instances.get(id) ?? this.clusters.get(id))?.error;
  }

  /** The server behind an instance or cluster (undefined while creating). */
  server<T extends DataServer = PitrPostgresServer>(id: string): T | undefined {
    return (this.instances.get(id) ?? this.clusters.get(id))?.server as T | undefined;
  }

  /** The identifiers of the instances that exist now. */
  instanceIds(): string[] {
    return [...this.instances.keys()];
  }

  async destroy(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const r of [...this.instances.values(), ...this.clusters.values()])
      await r.pitr?.destroy().catch(() => undefined);
    this.instances.clear();
    this.clusters.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await text(req));
    const action = form.get('Action') ?? '';
    this.calls.push(action);
    res.setHeader('Date', new Date(this.now()).toUTCString());
    res.setHeader('Content-Type', 'text/xml');
    const requestId = `fake-${this.calls.length}`;
    try {
      try {
        this.beforeAction?.(action, form);
      } catch (error) {
        throw new Fault(400, 'FakeInjectedFault', String(error));
      }
      const result = this.act(action, form);
      try {
        this.afterAction?.(action, form);
      } catch (error) {
        throw new Fault(400, 'FakeInjectedFault', String(error));
      }
      res.statusCode = 200;
      res.end(
        `<${action}Response xmlns="${NS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
      );
    } catch (error) {
      const f = error instanceof Fault ? error : new Fault(500, 'InternalFailure', String(error));
      res.statusCode = f.status;
      res.end(
        `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${f.code}</Code><Message>${esc(f.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      );
    }
  }

  private act(action: string, form: URLSearchParams): string {
    const now = this.now();
    switch (action) {
      case 'DescribeAccountAttributes':
        return '<AccountQuotas></AccountQuotas>';
      case 'DescribeDBClusters': {
        const id = form.get('DBClusterIdentifier') ?? '';
        const c = this.clusters.get(id);
        if (c === undefined) throw new Fault(404, 'DBClusterNotFoundFault', `DBCluster ${id} not found.`);
        const members = [...this.instances.values()].filter((i) => i.cluster === id).map((i) => i.id);
        return `<DBClusters>${clusterXml(c, members, now - this.lagMs)}</DBClusters>`;
      }
      case 'DescribeDBInstances': {
        const id = form.get('DBInstanceIdentifier') ?? '';
        const i = this.instances.get(id);
        if (i === undefined) throw new Fault(404, 'DBInstanceNotFound', `DBInstance ${id} not found.`);
        const xml = `<DBInstances>${instanceXml(i, now - this.lagMs)}</DBInstances>`;
        // A new instance in a cluster reads `creating` once, then takes the cluster's server.
        const cluster = i.cluster === undefined ? undefined : this.clusters.get(i.cluster);
        if (i.status === 'creating' && cluster?.server !== undefined && i.pitr === undefined) {
          i.server = cluster.server;
          i.status = 'available';
        }
        return xml;
      }
      case 'RestoreDBInstanceToPointInTime':
        return this.restore(form, 'instance');
      case 'RestoreDBClusterToPointInTime':
        return this.restore(form, 'cluster');
      case 'CreateDBInstance':
        return this.createClusterInstance(form);
      case 'ModifyDBInstance':
        return this.rename(form);
      default:
        throw new Fault(400, 'InvalidAction', `The fake does not implement ${action}.`);
    }
  }

  private restore(form: URLSearchParams, kind: 'instance' | 'cluster'): string {
    const map = kind === 'instance' ? this.instances : this.clusters;
    const Kind = kind === 'instance' ? 'DBInstance' : 'DBCluster';
    const sourceId = form.get(`Source${Kind}Identifier`) ?? '';
    const target = form.get(kind === 'instance' ? 'TargetDBInstanceIdentifier' : 'DBClusterIdentifier') ?? '';
    const source = map.get(sourceId);
    if (source === undefined) throw new Fault(404, `${Kind}NotFound`, `${Kind} ${sourceId} not found.`);
    if (map.has(target)) throw new Fault(400, `${Kind}AlreadyExists`, `${Kind} ${target} already exists.`);
    if (source.pitr === undefined || source.retentionDays === 0 || source.earliestMs === undefined)
      throw new Fault(
        400,
        'InvalidRestoreFault',
        `${Kind} ${sourceId} has no automated backups (in the fake).`,
      );
    const atMs = Date.parse(form.get(kind === 'instance' ? 'RestoreTime' : 'RestoreToTime') ?? '');
    const latest = this.now() - this.lagMs;
    if (!Number.isFinite(atMs) || atMs < source.earliestMs || atMs > latest)
      throw new Fault(
        400,
        'InvalidRestoreFault',
        `RestoreTime must lie between ${new Date(source.earliestMs).toISOString()} and ${new Date(latest).toISOString()}.`,
      );
    const created: FakeResource = {
      ...this.placement(form, kind === 'instance' ? 'DBParameterGroupName' : 'DBClusterParameterGroupName'),
      id: target,
      engine: source.engine,
      retentionDays: source.retentionDays,
      ...(kind === 'instance'
        ? { instanceClass: form.get('DBInstanceClass') ?? source.instanceClass ?? 'db.t3.micro' }
        : {}),
      status: 'creating',
    };
    map.set(target, created);
    const replay = source.pitr.restoreToTime(atMs - this.skewMs).then(
      (server) => {
        created.server = server;
        created.status = 'available';
      },
      (error: unknown) => {
        created.status = 'failed';
        created.error = String(error);
      },
    );
    this.pending.add(replay);
    void replay.finally(() => this.pending.delete(replay));
    return kind === 'instance' ? instanceXml(created, undefined) : clusterXml(created, [], undefined);
  }

  private createClusterInstance(form: URLSearchParams): string {
    const id = form.get('DBInstanceIdentifier') ?? '';
    const clusterId = form.get('DBClusterIdentifier') ?? '';
    const cluster = this.clusters.get(clusterId);
    if (cluster === undefined)
      throw new Fault(400, 'InvalidParameterCombination', 'The fake creates instances only in a cluster.');
    if (cluster.status !== 'available')
      throw new Fault(400, 'InvalidDBClusterStateFault', `DBCluster ${clusterId} is ${cluster.status}.`);
    if (this.instances.has(id))
      throw new Fault(400, 'DBInstanceAlreadyExists', `DBInstance ${id} already exists.`);
    const created: FakeResource = {
      ...this.placement(form, 'DBParameterGroupName'),
      id,
      engine: form.get('Engine') ?? cluster.engine,
      retentionDays: cluster.retentionDays,
      instanceClass: form.get('DBInstanceClass') ?? 'db.r6g.large',
      cluster: clusterId,
      status: 'creating',
    };
    this.instances.set(id, created);
    return instanceXml(created, undefined);
  }

  private rename(form: URLSearchParams): string {
    const id = form.get('DBInstanceIdentifier') ?? '';
    const i = this.instances.get(id);
    if (i === undefined) throw new Fault(404, 'DBInstanceNotFound', `DBInstance ${id} not found.`);
    const to = form.get('NewDBInstanceIdentifier');
    if (to === null) throw new Fault(400, 'InvalidParameterCombination', 'The fake only renames instances.');
    if (i.status !== 'available')
      throw new Fault(400, 'InvalidDBInstanceState', `DBInstance ${id} is ${i.status}, not available.`);
    if (this.instances.has(to))
      throw new Fault(400, 'DBInstanceAlreadyExists', `DBInstance ${to} already exists.`);
    this.instances.delete(id);
    i.id = to;
    this.instances.set(to, i);
    return instanceXml(i, this.now() - this.lagMs);
  }

  /** Parameter group, subnet group, security groups and tags as the request named them. */
  private placement(form: URLSearchParams, parameterGroupField: string) {
    const list = (re: RegExp) =>
      [...form.entries()]
        .flatMap(([k, v]) => (re.test(k) ? [[Number(re.exec(k)?.[1]), v] as const] : []))
        .sort((a, b) => a[0] - b[0])
        .map(([, v]) => v);
    const keys = list(/^Tags\.(?:Tag\.)?(\d+)\.Key$/);
    const values = list(/^Tags\.(?:Tag\.)?(\d+)\.Value$/);
    const parameterGroup = form.get(parameterGroupField);
    const subnetGroup = form.get('DBSubnetGroupName');
    return {
      ...(parameterGroup === null ? {} : { parameterGroup }),
      ...(subnetGroup === null ? {} : { subnetGroup }),
      securityGroupIds: list(/^VpcSecurityGroupIds\.(?:VpcSecurityGroupId\.)?(\d+)$/),
      tags: keys.map((key, n) => ({ key, value: values[n] ?? '' })),
    };
  }
}
