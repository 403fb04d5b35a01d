/**
 * A FAKE Azure Resource Manager for MySQL and PostgreSQL flexible servers, speaking the real wire protocol
 * (JSON over HTTPS, long-running PUT with an `Azure-AsyncOperation` status URL) so the product's real
 * adapter (src/engines/azure-flexible/arm-control-plane.ts, @azure/arm-mysql-flexible and
 * @azure/arm-postgresql-flexible) runs against it unchanged. Its data planes are REAL: a MySQL server is a
 * local MariaDB with the binary log on (./pitr-mariadb.ts), a PostgreSQL server a local PostgreSQL with
 * WAL archiving and a base backup (./pitr-postgres.ts); a PUT with `createMode: PointInTimeRestore`
 * (`restorePointInTime` / `pointInTimeUTC`) starts a NEW local server = base + binlog/WAL replayed to the time.
 *
 * Simulated: GET / PUT of `Microsoft.DBforMySQL/flexibleServers/<name>` and
 * `Microsoft.DBforPostgreSQL/flexibleServers/<name>` (any subscription/resource group,
 * api-version ignored), the operation status URL, 404 `ResourceNotFound`, 409 on an existing name, 400 when
 * the restore time is outside [earliestRestoreDate, now]. A restored server carries the location, SKU,
 * network and tags the REQUEST named; it reads `Starting` until the replay finished, then `Ready`. Its host
 * (`fullyQualifiedDomainName`) is a loopback address of its own (127.0.0.N) where the fake forwards
 * `serverPort` to the local server, since ARM reports no port.
 * The service clock is `Date.now() + skewMs` (the HTTP Date header and every time shown); databases run on
 * the machine clock, so a restore time T replays to T − skewMs.
 *
 * Not simulated: authentication (any bearer token), renaming (Azure has none), firewall rules,
 * configurations, a restored server's own backups, Azure's exact error texts. TLS: a throwaway self-signed
 * certificate made at start (`caFile`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createServer as createTcpServer,
  connect,
  type AddressInfo,
  type Server as TcpServer,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import type { LocalMariaDb } from '../local-servers/mariadb-server.ts';
import { startBinloggedMariaDb } from './pitr-mariadb.ts';
import { startArchivedPostgres, type ArchivedPostgres, type PitrPostgresServer } from './pitr-postgres.ts';

type Flavor = 'MySQL' | 'PostgreSQL';
/** A server's database: restored ones are destroyed by their source's `destroy`. */
type DataServer = LocalMariaDb | PitrPostgresServer;
/** Backups of a source server: real PITR to a time (our clock), and everything it started. */
interface PitrSource {
  readonly earliestMs: number;
  restoreToTime(atMs: number): Promise<DataServer>;
  destroy(): Promise<void>;
}

interface FakeServer {
  flavor: Flavor;
  id: string;
  name: string;
  location: string;
  sku: { name: string; tier: string };
  tags: Record<string, string>;
  network?: Record<string, string>;
  retentionDays: number;
  state: 'Starting' | 'Ready' | 'Disabled';
  host: string;
  db?: DataServer;
  source?: PitrSource;
  earliestMs?: number;
  error?: string;
}

export interface FakeFlexibleServerSpec {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly location?: string;
  readonly tags?: Record<string, string>;
  readonly subnetId?: string;
  readonly retentionDays?: number;
}

export class AzureFlexibleFake {
  skewMs: number;
  readonly calls: string[] = [];
  private readonly servers = new Map<string, FakeServer>();
  private readonly operations = new Map<string, string>();
  private readonly forwarders: TcpServer[] = [];
  private readonly pending = new Set<Promise<void>>();
  private nextHost = 2 + Math.floor(Math.random() * 200);

  private constructor(
    private readonly https: Server,
    private readonly dir: string,
    readonly serverPort: number,
    skewMs: number,
  ) {
    this.skewMs = skewMs;
  }

  static async start(options: { skewMs?: number; serverPort: number }): Promise<AzureFlexibleFake> {
    const dir = mkdtempSync(join(tmpdir(), 'stillpoint-azure-fake-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const https = createServer({
      key: await readFile(join(dir, 'key.pem')),
      cert: await readFile(join(dir, 'cert.pem')),
    });
    const fake = new AzureFlexibleFake(https, dir, options.serverPort, options.skewMs ?? 0);
    https.on('request', (req: IncomingMessage, res: ServerResponse) => void fake.handle(req, res));
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get endpoint(): string {
    return `https://127.0.0.1:${(this.https.address() as AddressInfo).port}`;
  }

  /** The self-signed certificate to trust (the member option `caFile`). */
  get caFile(): string {
    return join(this.dir, 'cert.pem');
  }

  now(): number {
    return Date.now() + this.skewMs;
  }

  /** Lab side: a MySQL flexible server (a real binlogged MariaDB), Ready at once. */
  async createMySqlServer(spec: FakeFlexibleServerSpec): Promise<LocalMariaDb> {
    const maria = await startBinloggedMariaDb();
    const pitr = {
      earliestMs: maria.createdAtMs,
      restoreToTime: (t: number) => maria.restoreToTime(t),
      destroy: () => maria.destroy(),
    };
    await this.addSource('MySQL', spec, maria.server, pitr);
    return maria.server;
  }

  /** Lab side: a PostgreSQL flexible server (a real archived PostgreSQL), Ready at once. */
  async createPostgresServer(spec: FakeFlexibleServerSpec): Promise<ArchivedPostgres> {
    const pg = await startArchivedPostgres();
    const pitr = {
      earliestMs: pg.baseBackupEndMs,
      restoreToTime: (t: number) => pg.restoreToTime(t),
      destroy: () => pg.destroy(),
    };
    await this.addSource('PostgreSQL', spec, pg, pitr);
    return pg;
  }

  private async addSource(flavor: Flavor, spec: FakeFlexibleServerSpec, db: DataServer, pitr: PitrSource) {
    const id = `/subscriptions/${spec.subscriptionId}/resourceGroups/${spec.resourceGroup}/providers/Microsoft.DBfor${flavor}/flexibleServers/${spec.name}`;
    const host = await this.forward(db.port);
    this.servers.set(spec.name, {
      flavor,
      id,
      name: spec.name,
      location: spec.location ?? 'westeurope',
      sku: { name: 'Standard_B1ms', tier: 'Burstable' },
      tags: spec.tags ?? {},
      ...(spec.subnetId === undefined
        ? {}
        : { network: { delegatedSubnetResourceId: spec.subnetId, publicNetworkAccess: 'Disabled' } }),
      retentionDays: spec.retentionDays ?? 7,
      state: 'Ready',
      host,
      db,
      source: pitr,
      earliestMs: pitr.earliestMs + this.skewMs,
    });
  }

  /** The database behind a server (undefined while it is starting). */
  server<T extends DataServer = LocalMariaDb>(name: string): T | undefined {
    return this.servers.get(name)?.db as T | undefined;
  }

  failure(name: string): string | undefined {
    return this.servers.get(name)?.error;
  }

  async destroy(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await new Promise<void>((resolve) => this.https.close(() => resolve()));
    for (const f of this.forwarders) f.close();
    for (const s of this.servers.values()) await s.source?.destroy().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A loopback address of its own whose `serverPort` forwards to `port`. */
  private async forward(port: number): Promise<string> {
    const host = `127.0.0.${this.nextHost++}`;
    const tcp = createTcpServer((client) => {
      const upstream = connect(port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) =>
      tcp.once('error', reject).listen(this.serverPort, host, resolve),
    );
    this.forwarders.push(tcp);
    return host;
  }

  private send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(status, {
      'Content-Type': 'application/json',
      Date: new Date(this.now()).toUTCString(),
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.endpoint);
    this.calls.push(`${req.method ?? ''} ${url.pathname}`);
    const body = await text(req);
    const op = /^\/operations\/([\w-]+)$/.exec(url.pathname);
    if (op !== null) {
      const server = this.servers.get(this.operations.get(op[1] ?? '') ?? '');
      const status =
        server === undefined || server.state === 'Disabled'
          ? 'Failed'
          : server.state === 'Ready'
            ? 'Succeeded'
            : 'InProgress';
      return this.send(res, 200, {
        name: op[1],
        status,
        ...(status === 'Failed'
          ? { error: { code: 'RestoreFailed', message: server?.error ?? 'unknown' } }
          : {}),
      });
    }
    const m = /\/providers\/Microsoft\.DBfor(MySQL|PostgreSQL)\/flexibleServers\/([^/]+)$/i.exec(
      url.pathname,
    );
    if (m === null)
      return this.send(res, 404, {
        error: { code: 'InvalidResourceType', message: `The fake has no ${url.pathname}.` },
      });
    const flavor: Flavor = m[1]?.toLowerCase() === 'mysql' ? 'MySQL' : 'PostgreSQL';
    const name = decodeURIComponent(m[2] ?? '');
    const found = this.servers.get(name);
    const existing = found?.flavor === flavor ? found : undefined;
    if (req.method === 'GET') {
      if (existing === undefined)
        return this.send(res, 404, {
          error: { code: 'ResourceNotFound', message: `Server ${name} was not found.` },
        });
      return this.send(res, 200, this.json(existing));
    }
    if (req.method !== 'PUT')
      return this.send(res, 405, {
        error: { code: 'MethodNotAllowed', message: `${req.method ?? ''} is not simulated.` },
      });
    const put = JSON.parse(body) as {
      location?: string;
      tags?: Record<string, string>;
      sku?: { name: string; tier: string };
      properties?: Record<string, unknown>;
    };
    const p = put.properties ?? {};
    if (p.createMode !== 'PointInTimeRestore')
      return this.send(res, 400, {
        error: { code: 'NotSimulated', message: 'The fake creates servers only by PointInTimeRestore.' },
      });
    if (found !== undefined)
      return this.send(res, 409, {
        error: { code: 'ServerAlreadyExists', message: `Server ${name} already exists.` },
      });
    const source = [...this.servers.values()].find((s) => s.id === p.sourceServerResourceId);
    if (source?.source === undefined || source.earliestMs === undefined)
      return this.send(res, 400, {
        error: {
          code: 'SourceServerNotFound',
          message: `No restorable server ${String(p.sourceServerResourceId)}.`,
        },
      });
    const atMs = Date.parse(String(flavor === 'MySQL' ? p.restorePointInTime : p.pointInTimeUTC));
    if (!Number.isFinite(atMs) || atMs < source.earliestMs || atMs > this.now())
      return this.send(res, 400, {
        error: {
          code: 'InvalidRestorePointInTime',
          message: `The restore time must lie between ${new Date(source.earliestMs).toISOString()} and now.`,
        },
      });
    const created: FakeServer = {
      flavor,
      id: source.id.replace(/[^/]+$/, name),
      name,
      location: put.location ?? source.location,
      sku: put.sku ?? source.sku,
      tags: put.tags ?? {},
      ...(p.network === undefined ? {} : { network: p.network as Record<string, string> }),
      retentionDays: source.retentionDays,
      state: 'Starting',
      host: '',
    };
    this.servers.set(name, created);
    const replay = source.source.restoreToTime(atMs - this.skewMs).then(
      async (db) => {
        created.db = db;
        created.host = await this.forward(db.port);
        created.state = 'Ready';
      },
      (error: unknown) => {
        created.state = 'Disabled';
        created.error = String(error);
      },
    );
    this.pending.add(replay);
    void replay.finally(() => this.pending.delete(replay));
    const opId = `op-${this.calls.length}`;
    this.operations.set(opId, name);
    this.send(res, 201, this.json(created), {
      'Azure-AsyncOperation': `${this.endpoint}/operations/${opId}?api-version=2023-12-30`,
    });
  }

  private json(s: FakeServer): unknown {
    return {
      id: s.id,
      name: s.name,
      type: `Microsoft.DBfor${s.flavor}/flexibleServers`,
      location: s.location,
      tags: s.tags,
      sku: s.sku,
      properties: {
        state: s.state,
        version: s.flavor === 'MySQL' ? '8.0.21' : '15',
        ...(s.state === 'Ready' ? { fullyQualifiedDomainName: s.host } : {}),
        backup: {
          backupRetentionDays: s.retentionDays,
          geoRedundantBackup: 'Disabled',
          ...(s.earliestMs === undefined
            ? {}
            : { earliestRestoreDate: new Date(s.earliestMs).toISOString() }),
        },
        network: s.network ?? { publicNetworkAccess: 'Enabled' },
      },
    };
  }
}
