/**
 * A FAKE Amazon RDS control plane, speaking the real wire protocol (AWS Query: form-encoded POST, XML
 * answers) so the product's real adapter (src/engines/rds/aws-control-plane.ts, the AWS SDK) runs against
 * it unchanged. Its data planes are REAL: each "instance" is a local PostgreSQL server with WAL archiving
 * and a base backup (./pitr-postgres.ts), and RestoreDBInstanceToPointInTime starts a NEW local server =
 * base backup + WAL replayed to the requested time. What it simulates, exactly:
 *
 * - DescribeDBInstances (one identifier), DescribeAccountAttributes (for the clock), DescribeDBClusters
 *   (always DBClusterNotFoundFault: Aurora is not simulated), RestoreDBInstanceToPointInTime.
 * - A restore checks: the source exists, the target does not (DBInstanceAlreadyExists), automated
 *   backups are on and RestoreTime lies in [earliest, LatestRestorableTime] (InvalidRestoreFault). The new
 *   instance reads `creating` until its server has left recovery, then `available`; it carries the
 *   parameter group, subnet group, security groups, tags and class the REQUEST named (like RDS: nothing
 *   is copied from the source unless asked).
 * - The service clock: `Date.now() + skewMs`, sent as the HTTP Date header and used for every time the API
 *   shows. The databases run on the machine clock, so a restore time T maps to T − skewMs for replay (on
 *   RDS the database and the service share one clock; the skew is between the service and us).
 * - LatestRestorableTime = service clock − `lagMs` (RDS: about five minutes).
 *
 * Not simulated: authentication (SigV4 is accepted unchecked), Aurora, MySQL/MariaDB instances, a
 * restored instance's own automated backups (retention is reported, restoring it again is refused), and
 * RDS's exact error messages.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { startArchivedPostgres, type ArchivedPostgres, type PitrPostgresServer } from './pitr-postgres.ts';

export interface FakeRdsInstanceSpec {
  readonly id: string;
  readonly retentionDays?: number;
  readonly instanceClass?: string;
  readonly parameterGroup?: string;
  readonly subnetGroup?: string;
  readonly securityGroupIds?: readonly string[];
  readonly tags?: readonly { key: string; value: string }[];
}

interface FakeInstance {
  spec: Required<Omit<FakeRdsInstanceSpec, 'parameterGroup' | 'subnetGroup'>> &
    Pick<FakeRdsInstanceSpec, 'parameterGroup' | 'subnetGroup'>;
  status: 'creating' | 'available' | 'failed';
  server?: PitrPostgresServer;
  source?: ArchivedPostgres;
  earliestMs?: number;
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

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const el = (name: string, body: string | number | undefined) =>
  body === undefined ? '' : `<${name}>${typeof body === 'number' ? body : esc(body)}</${name}>`;
const NS = 'http://rds.amazonaws.com/doc/2014-10-31/';

export class RdsControlPlaneFake {
  /** Service clock minus ours, ms. */
  skewMs: number;
  readonly lagMs: number;
  private readonly instances = new Map<string, FakeInstance>();
  private readonly pending = new Set<Promise<void>>();
  /** Every Action received, in order (tests assert the API calls a restore made). */
  readonly calls: string[] = [];

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

  /** Lab side: a new PostgreSQL "instance" (a real archived server), available at once. */
  async createPostgresInstance(spec: FakeRdsInstanceSpec): Promise<ArchivedPostgres> {
    const source = await startArchivedPostgres();
    this.instances.set(spec.id, {
      spec: { retentionDays: 7, instanceClass: 'db.t3.micro', securityGroupIds: [], tags: [], ...spec },
      status: 'available',
      server: source,
      source,
      earliestMs: source.baseBackupEndMs + this.skewMs,
    });
    return source;
  }

  /** Lab side: ModifyDBInstance --backup-retention-period, without the API. */
  setRetentionDays(id: string, days: number): void {
    const i = this.instances.get(id);
    if (i !== undefined) i.spec = { ...i.spec, retentionDays: days };
  }

  /** Why a restore ended `failed` (RDS shows this only in its events). */
  failure(id: string): string | undefined {
    return this.instances.get(id)?.error;
  }

  /** The server behind an instance (undefined while creating). */
  server(id: string): PitrPostgresServer | undefined {
    return this.instances.get(id)?.server;
  }

  async destroy(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const i of this.instances.values()) if (i.source === undefined) await i.server?.destroy();
    for (const i of this.instances.values()) await i.source?.destroy();
    this.instances.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await text(req));
    const action = form.get('Action') ?? '';
    this.calls.push(action);
    res.setHeader('Date', new Date(this.now()).toUTCString());
    res.setHeader('Content-Type', 'text/xml');
    const requestId = `fake-${this.calls.length}`;
    try {
      const result = this.act(action, form);
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
    switch (action) {
      case 'DescribeAccountAttributes':
        return '<AccountQuotas></AccountQuotas>';
      case 'DescribeDBClusters':
        throw new Fault(
          404,
          'DBClusterNotFoundFault',
          `DBCluster ${form.get('DBClusterIdentifier') ?? ''} not found (the fake has no Aurora).`,
        );
      case 'DescribeDBInstances': {
        const id = form.get('DBInstanceIdentifier') ?? '';
        const i = this.instances.get(id);
        if (i === undefined) throw new Fault(404, 'DBInstanceNotFound', `DBInstance ${id} not found.`);
        return `<DBInstances>${this.instanceXml(id, i)}</DBInstances>`;
      }
      case 'RestoreDBInstanceToPointInTime':
        return this.restore(form);
      default:
        throw new Fault(400, 'InvalidAction', `The fake does not implement ${action}.`);
    }
  }

  private restore(form: URLSearchParams): string {
    const sourceId = form.get('SourceDBInstanceIdentifier') ?? '';
    const target = form.get('TargetDBInstanceIdentifier') ?? '';
    const source = this.instances.get(sourceId);
    if (source === undefined) throw new Fault(404, 'DBInstanceNotFound', `DBInstance ${sourceId} not found.`);
    if (this.instances.has(target))
      throw new Fault(400, 'DBInstanceAlreadyExists', `DBInstance ${target} already exists.`);
    if (source.source === undefined || source.spec.retentionDays === 0 || source.earliestMs === undefined)
      throw new Fault(
        400,
        'InvalidRestoreFault',
        `DBInstance ${sourceId} has no automated backups to restore from (in the fake).`,
      );
    const atMs = Date.parse(form.get('RestoreTime') ?? '');
    const latest = this.now() - this.lagMs;
    if (!Number.isFinite(atMs) || atMs < source.earliestMs || atMs > latest)
      throw new Fault(
        400,
        'InvalidRestoreFault',
        `RestoreTime must lie between ${new Date(source.earliestMs).toISOString()} and ${new Date(latest).toISOString()}.`,
      );
    const list = (re: RegExp) =>
      [...form.entries()]
        .flatMap(([k, v]) => (re.test(k) ? [[Number(re.exec(k)?.[1]), v] as const] : []))
        .sort((a, b) => a[0] - b[0])
        .map(([, v]) => v);
    const keys = list(/^Tags\.(?:Tag\.)?(\d+)\.Key$/);
    const values = list(/^Tags\.(?:Tag\.)?(\d+)\.Value$/);
    const created: FakeInstance = {
      spec: {
        id: target,
        retentionDays: source.spec.retentionDays,
        instanceClass: form.get('DBInstanceClass') ?? source.spec.instanceClass,
        ...(form.get('DBParameterGroupName') === null
          ? {}
          : { parameterGroup: form.get('DBParameterGroupName') ?? '' }),
        ...(form.get('DBSubnetGroupName') === null
          ? {}
          : { subnetGroup: form.get('DBSubnetGroupName') ?? '' }),
        securityGroupIds: list(/^VpcSecurityGroupIds\.(?:VpcSecurityGroupId\.)?(\d+)$/),
        tags: keys.map((key, n) => ({ key, value: values[n] ?? '' })),
      },
      status: 'creating',
    };
    this.instances.set(target, created);
    const replay = source.source.restoreToTime(atMs - this.skewMs).then(
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
    return this.instanceXml(target, created);
  }

  private instanceXml(id: string, i: FakeInstance): string {
    const s = i.spec;
    return [
      '<DBInstance>',
      el('DBInstanceIdentifier', id),
      el('DBInstanceClass', s.instanceClass),
      el('Engine', 'postgres'),
      el('DBInstanceStatus', i.status),
      i.server === undefined
        ? ''
        : `<Endpoint>${el('Address', i.server.host)}${el('Port', i.server.port)}</Endpoint>`,
      el('BackupRetentionPeriod', s.retentionDays),
      i.source === undefined || s.retentionDays === 0
        ? ''
        : el('LatestRestorableTime', new Date(this.now() - this.lagMs).toISOString()),
      s.parameterGroup === undefined
        ? ''
        : `<DBParameterGroups><DBParameterGroup>${el('DBParameterGroupName', s.parameterGroup)}${el('ParameterApplyStatus', 'in-sync')}</DBParameterGroup></DBParameterGroups>`,
      s.subnetGroup === undefined
        ? ''
        : `<DBSubnetGroup>${el('DBSubnetGroupName', s.subnetGroup)}</DBSubnetGroup>`,
      `<VpcSecurityGroups>${s.securityGroupIds.map((g) => `<VpcSecurityGroupMembership>${el('VpcSecurityGroupId', g)}${el('Status', 'active')}</VpcSecurityGroupMembership>`).join('')}</VpcSecurityGroups>`,
      `<TagList>${s.tags.map((t) => `<Tag>${el('Key', t.key)}${el('Value', t.value)}</Tag>`).join('')}</TagList>`,
      '</DBInstance>',
    ].join('');
  }
}
