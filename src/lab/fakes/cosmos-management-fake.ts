/**
 * A FAKE of Azure Resource Manager for Cosmos DB (Microsoft.DocumentDB), for tests and the lab: no real
 * server covers the management plane. It speaks ARM's HTTPS wire protocol, so the product's real adapter
 * (src/engines/cosmos/arm-control-plane.ts over @azure/arm-cosmosdb) runs against it unchanged:
 *  - database accounts: get, list by resource group, create in Restore mode (a long-running operation with
 *    `Azure-AsyncOperation` polling), update of the default consistency, listKeys;
 *  - restorable database accounts by location + instance id, and each container's latest restorable time;
 *  - SQL containers (listed from the account's data plane) and stored procedures (bodies recorded).
 * Every account's data plane is a real cosmosdb-server; the fake records every document write it serves
 * (host-clock time, document after the write) and a restore starts a NEW cosmosdb-server holding the
 * data as of the requested time. The service clock can be skewed: it reads host clock + skew, and a skew
 * holds for the whole timeline (a restore time is mapped back with the current skew), as if the service
 * clock had always been that far off. A real service clock does not jump; stamping the log with a clock
 * that did (a skew set, then reset for the next trial) would order it by a time that went backwards, and
 * a restore would miss writes made before its time. Bearer tokens are checked.
 */
import { CosmosClient } from '@azure/cosmos';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TokenCredential } from '@azure/identity';
import {
  createLocalTls,
  LOCAL_COSMOS_KEY,
  startLocalCosmos,
  type LocalCosmos,
  type LocalTls,
} from '../local-servers/cosmosdb-server.ts';

/** `atMs`: host clock (never skewed). */
type LogEntry =
  | { atMs: number; kind: 'db'; db: string }
  | { atMs: number; kind: 'coll'; db: string; body: Record<string, unknown> }
  | { atMs: number; kind: 'put'; db: string; coll: string; doc: Record<string, unknown> }
  | { atMs: number; kind: 'delete'; db: string; coll: string; id: string; pk: unknown }
  /** A write the replay cannot redo (a batch, a dropped or replaced container): a restore past it fails. */
  | { atMs: number; kind: 'unreplayable'; what: string };

interface FakeAccount {
  name: string;
  instanceId: string;
  /** Host clock. */
  createdAtMs: number;
  consistency: string;
  backupPolicy: 'Continuous' | 'Periodic';
  state: 'Creating' | 'Succeeded' | 'Failed';
  data?: LocalCosmos;
  log: LogEntry[];
  procedures: Map<string, { id: string; body: string }>;
}

export interface CosmosManagementFake {
  readonly endpoint: string;
  readonly caFile: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly location: string;
  /** A TokenCredential the fake accepts. */
  readonly credential: TokenCredential;
  /** Creates a live account with its data plane (a new cosmosdb-server). */
  createAccount(
    name: string,
    options?: { continuous?: boolean; consistency?: string },
  ): Promise<{ endpoint: string; caFile: string; key: string }>;
  account(
    name: string,
  ): { consistency: string; state: string; procedures: { id: string; body: string }[] } | undefined;
  /** Service clock = host clock + skew. */
  setSkew(ms: number): void;
  /** How far the latest restorable time trails the service clock. */
  setRestorableLag(ms: number): void;
  /** How long a restore operation runs before the new account exists. */
  setRestoreDelay(ms: number): void;
  /** Service-clock epoch ms. */
  now(): number;
  destroy(): Promise<void>;
}

const TOKEN = 'stillpoint-fake-arm-token';
/** Documents a restore writes at once (each once: their order does not matter). */
const REPLAY_PARALLEL = 16;

/** A routing header set to true (cosmosdb-server's own test of it). */
function flag(req: IncomingMessage, name: string): boolean {
  return String(req.headers[name] ?? '').toLowerCase() === 'true';
}

/** A query (documents, containers or databases): a POST that reads. */
function isQuery(req: IncomingMessage): boolean {
  return (
    req.method === 'POST' &&
    (flag(req, 'x-ms-documentdb-isquery') || req.headers['content-type'] === 'application/query+json')
  );
}

export async function startCosmosManagementFake(
  options: {
    subscriptionId?: string;
    resourceGroup?: string;
    location?: string;
    restoreDelayMs?: number;
  } = {},
): Promise<CosmosManagementFake> {
  const tls: LocalTls = await createLocalTls();
  const sub = options.subscriptionId ?? '00000000-0000-0000-0000-000000000000';
  const rg = options.resourceGroup ?? 'stillpoint-rg';
  const location = options.location ?? 'westeurope';
  const accounts = new Map<string, FakeAccount>();
  const operations = new Map<string, 'InProgress' | 'Succeeded' | 'Failed'>();
  let skewMs = 0;
  let lagMs = 0;
  let restoreDelayMs = options.restoreDelayMs ?? 50;
  const now = () => Date.now() + skewMs;
  const agent = new Agent({ ca: tls.cert });
  const dataClient = (account: FakeAccount) =>
    new CosmosClient({
      endpoint: account.data?.endpoint ?? '',
      key: LOCAL_COSMOS_KEY,
      agent,
      connectionPolicy: { enableEndpointDiscovery: false },
    });

  const startData = async (account: FakeAccount) => {
    account.data = await startLocalCosmos({ tls, observe: (req, res) => record(account, req, res) });
  };

  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    void handle(req, res).catch((error: unknown) =>
      send(res, 500, { error: { code: 'Internal', message: String(error) } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(status, {
      'content-type': 'application/json',
      date: new Date(now()).toUTCString(),
      ...headers,
    });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  function accountJson(a: FakeAccount): Record<string, unknown> {
    return {
      id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.DocumentDB/databaseAccounts/${a.name}`,
      name: a.name,
      location,
      type: 'Microsoft.DocumentDB/databaseAccounts',
      kind: 'GlobalDocumentDB',
      properties: {
        provisioningState: a.state,
        documentEndpoint: a.data?.endpoint ?? '',
        databaseAccountOfferType: 'Standard',
        consistencyPolicy: { defaultConsistencyLevel: a.consistency },
        backupPolicy: { type: a.backupPolicy },
        instanceId: a.instanceId,
        locations: [{ locationName: location, failoverPriority: 0 }],
      },
    };
  }

  async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      send(res, 401, { error: { code: 'AuthenticationFailed', message: 'bad or missing bearer token' } });
      return;
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', base).pathname);
    const method = req.method ?? 'GET';
    const op = /^\/operations\/([^/]+)$/.exec(path);
    if (op !== null) return send(res, 200, { status: operations.get(op[1] ?? '') ?? 'Failed' });
    const restorable = /\/locations\/([^/]+)\/restorableDatabaseAccounts\/([^/]+)$/.exec(path);
    if (restorable !== null) {
      const a = [...accounts.values()].find((x) => x.instanceId === restorable[2]);
      if (a === undefined || a.backupPolicy !== 'Continuous')
        return send(res, 404, { error: { code: 'NotFound', message: 'no such restorable account' } });
      return send(res, 200, {
        id: path,
        name: a.instanceId,
        location,
        type: 'Microsoft.DocumentDB/locations/restorableDatabaseAccounts',
        properties: {
          accountName: a.name,
          creationTime: new Date(a.createdAtMs + skewMs).toISOString(),
          oldestRestorableTime: new Date(a.createdAtMs + skewMs).toISOString(),
          apiType: 'Sql',
        },
      });
    }
    const prefix = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.DocumentDB/databaseAccounts`;
    if (path === prefix && method === 'GET')
      return send(res, 200, { value: [...accounts.values()].map(accountJson) });
    if (!path.startsWith(`${prefix}/`)) return send(res, 404, { error: { code: 'NotFound', message: path } });
    const [name = '', ...rest] = path.slice(prefix.length + 1).split('/');
    const account = accounts.get(name);
    if (rest.length === 0 && method === 'PUT') return createRestored(name, await body(req), res);
    if (account === undefined)
      return send(res, 404, { error: { code: 'ResourceNotFound', message: `account ${name}` } });
    if (rest.length === 0 && method === 'GET') return send(res, 200, accountJson(account));
    if (rest.length === 0 && method === 'PATCH') {
      const props = (await body(req)).properties as
        { consistencyPolicy?: { defaultConsistencyLevel?: string } } | undefined;
      const level = props?.consistencyPolicy?.defaultConsistencyLevel;
      if (level !== undefined) account.consistency = level;
      return send(res, 200, accountJson(account));
    }
    if (rest[0] === 'listKeys' && method === 'POST')
      return send(res, 200, { primaryMasterKey: LOCAL_COSMOS_KEY, secondaryMasterKey: LOCAL_COSMOS_KEY });
    // sqlDatabases/{db}/containers[/{c}[/storedProcedures[/{sp}] | /retrieveContinuousBackupInformation]]
    if (rest[0] !== 'sqlDatabases' || rest[2] !== 'containers')
      return send(res, 404, { error: { code: 'NotFound', message: path } });
    const db = rest[1] ?? '';
    const container = rest[3];
    if (container === undefined) {
      const names: string[] = [];
      try {
        for (const c of (await dataClient(account).database(db).containers.readAll().fetchAll()).resources)
          names.push(c.id);
      } catch {
        return send(res, 404, { error: { code: 'NotFound', message: `database ${db}` } });
      }
      return send(res, 200, {
        value: names.map((id) => ({ id: `${path}/${id}`, name: id, properties: { resource: { id } } })),
      });
    }
    if (rest[4] === 'retrieveContinuousBackupInformation')
      return send(res, 200, {
        continuousBackupInformation: { latestRestorableTimestamp: new Date(now() - lagMs).toISOString() },
      });
    if (rest[4] === 'storedProcedures') {
      const key = (id: string) => `${db}/${container}/${id}`;
      if (rest[5] === undefined) {
        const value = [...account.procedures.entries()]
          .filter(([k]) => k.startsWith(`${db}/${container}/`))
          .map(([, sp]) => ({ id: `${path}/${sp.id}`, name: sp.id, properties: { resource: sp } }));
        return send(res, 200, { value });
      }
      if (method === 'PUT') {
        const resource = ((await body(req)).properties as { resource: { id: string; body: string } })
          .resource;
        account.procedures.set(key(resource.id), { id: resource.id, body: resource.body });
        return send(res, 200, { id: path, name: resource.id, properties: { resource } });
      }
    }
    return send(res, 404, { error: { code: 'NotFound', message: path } });
  }

  /** PUT databaseAccounts/{name} with createMode Restore: a long-running operation. */
  function createRestored(name: string, request: Record<string, unknown>, res: ServerResponse): void {
    const props = (request.properties ?? {}) as {
      createMode?: string;
      restoreParameters?: { restoreSource?: string; restoreTimestampInUtc?: string };
    };
    const bad = (message: string) => send(res, 400, { error: { code: 'BadRequest', message } });
    if (accounts.has(name)) return bad(`account ${name} exists`);
    if (props.createMode !== 'Restore') return bad('this fake only creates accounts in Restore mode');
    const instanceId = props.restoreParameters?.restoreSource?.split('/').pop() ?? '';
    const source = [...accounts.values()].find((a) => a.instanceId === instanceId);
    const requestedMs = Date.parse(props.restoreParameters?.restoreTimestampInUtc ?? '');
    const atMs = requestedMs - skewMs; // on the host clock, as the log is
    if (source === undefined || source.backupPolicy !== 'Continuous')
      return bad(`no restorable account ${instanceId}`);
    if (!(atMs >= source.createdAtMs && atMs <= Date.now() - lagMs))
      return bad(`restore time ${new Date(requestedMs).toISOString()} is outside the restorable range`);
    const target: FakeAccount = {
      name,
      instanceId: randomUUID(),
      createdAtMs: Date.now(),
      consistency: 'Session', // a restored account does not keep STRONG: the engine sets it again
      backupPolicy: 'Continuous',
      state: 'Creating',
      log: [],
      procedures: new Map(), // nor its stored procedures
    };
    accounts.set(name, target);
    const opId = randomUUID();
    operations.set(opId, 'InProgress');
    void (async () => {
      await new Promise((resolve) => setTimeout(resolve, restoreDelayMs));
      await startData(target);
      await replay(
        source.log.filter((e) => e.atMs <= atMs),
        target,
      );
      target.state = 'Succeeded';
      operations.set(opId, 'Succeeded');
    })().catch(() => {
      target.state = 'Failed';
      operations.set(opId, 'Failed');
    });
    send(res, 201, accountJson(target), { 'azure-asyncoperation': `${base}/operations/${opId}` });
  }

  /**
   * Writes into `target` the state `entries` leave: databases and containers in order, then each document's
   * last write (one deleted last is not written). The same end state as redoing every write in order, since
   * nothing the log holds drops a container (such a write is unreplayable); a restore holds data, not
   * history, and the cost is the live documents, not the whole log (a kept trials group's account logs
   * every trial it served).
   */
  async function replay(entries: readonly LogEntry[], target: FakeAccount): Promise<void> {
    const client = dataClient(target);
    const partitionPaths = new Map<string, string>();
    const lastPuts = new Map<string, Extract<LogEntry, { kind: 'put' }> | undefined>();
    const documentKey = (db: string, coll: string, pk: unknown, id: unknown) =>
      JSON.stringify([db, coll, pk, id]);
    for (const e of entries) {
      if (e.kind === 'db') await client.databases.createIfNotExists({ id: e.db });
      else if (e.kind === 'coll') {
        const { id, partitionKey, indexingPolicy } = e.body as {
          id: string;
          partitionKey?: { paths?: string[] };
          indexingPolicy: never;
        };
        partitionPaths.set(`${e.db}/${id}`, partitionKey?.paths?.[0] ?? '');
        await client
          .database(e.db)
          .containers.createIfNotExists({ id, partitionKey: partitionKey as never, indexingPolicy });
      } else if (e.kind === 'put') {
        const path = partitionPaths.get(`${e.db}/${e.coll}`) ?? '';
        const pk = path
          .split('/')
          .filter(Boolean)
          .reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], e.doc);
        lastPuts.set(documentKey(e.db, e.coll, pk, e.doc.id), e);
      } else if (e.kind === 'delete') lastPuts.set(documentKey(e.db, e.coll, e.pk, e.id), undefined);
      else throw new Error(`the fake cannot replay ${e.what}`);
    }
    const puts = [...lastPuts.values()].filter((e) => e !== undefined);
    for (let i = 0; i < puts.length; i += REPLAY_PARALLEL)
      await Promise.all(
        puts.slice(i, i + REPLAY_PARALLEL).map((e) => {
          const doc = Object.fromEntries(Object.entries(e.doc).filter(([k]) => !k.startsWith('_')));
          return client.database(e.db).container(e.coll).items.upsert(doc);
        }),
      );
    client.dispose();
  }

  /**
   * Records a successful write the data plane serves, with the host-clock time it happened. Requests are
   * told apart as cosmosdb-server's router does: a query is a POST to the same paths as a create (header
   * `x-ms-documentdb-isquery` or a query content type) and changes nothing; recording its answer as a
   * document put the query's result page into every later restore as a document of its own.
   */
  function record(account: FakeAccount, req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent((req.url ?? '').split('?')[0] ?? '');
    const parts = path.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    if (method === 'GET' || parts[0] !== 'dbs' || isQuery(req)) return;
    const end = res.end.bind(res);
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      if (ok) {
        const atMs = Date.now();
        const json = () => JSON.parse(String(chunk)) as Record<string, unknown>;
        const [, db = '', colls, coll = '', docs, id] = parts;
        if (parts.length === 1 && method === 'POST')
          account.log.push({ atMs, kind: 'db', db: String(json().id) });
        else if (parts.length === 3 && colls === 'colls' && method === 'POST')
          account.log.push({ atMs, kind: 'coll', db, body: json() });
        else if (docs === 'docs' && flag(req, 'x-ms-cosmos-is-batch-request'))
          account.log.push({ atMs, kind: 'unreplayable', what: `a batch in ${db}/${coll}` });
        else if (docs === 'docs' && ['POST', 'PUT', 'PATCH'].includes(method) && parts.length >= 5)
          account.log.push({ atMs, kind: 'put', db, coll, doc: json() });
        else if (docs === 'docs' && method === 'DELETE' && id !== undefined) {
          const header = req.headers['x-ms-documentdb-partitionkey'];
          const pk = typeof header === 'string' ? (JSON.parse(header) as unknown[])[0] : undefined;
          account.log.push({ atMs, kind: 'delete', db, coll, id, pk });
        } else if (parts.length <= 4)
          account.log.push({ atMs, kind: 'unreplayable', what: `${method} ${path}` });
      }
      return (end as (...args: unknown[]) => ServerResponse)(chunk, ...rest);
    }) as typeof res.end;
  }

  return {
    endpoint: base,
    caFile: tls.caFile,
    subscriptionId: sub,
    resourceGroup: rg,
    location,
    credential: {
      getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }),
    },
    async createAccount(name, opts = {}) {
      const a: FakeAccount = {
        name,
        instanceId: randomUUID(),
        createdAtMs: Date.now(),
        consistency: opts.consistency ?? 'Strong',
        backupPolicy: opts.continuous === false ? 'Periodic' : 'Continuous',
        state: 'Succeeded',
        log: [],
        procedures: new Map(),
      };
      await startData(a);
      accounts.set(name, a);
      return { endpoint: a.data?.endpoint ?? '', caFile: tls.caFile, key: LOCAL_COSMOS_KEY };
    },
    account(name) {
      const a = accounts.get(name);
      return a === undefined
        ? undefined
        : { consistency: a.consistency, state: a.state, procedures: [...a.procedures.values()] };
    },
    setSkew: (ms) => {
      skewMs = ms;
    },
    setRestorableLag: (ms) => {
      lagMs = ms;
    },
    setRestoreDelay: (ms) => {
      restoreDelayMs = ms;
    },
    now,
    async destroy() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const a of accounts.values()) await a.data?.destroy();
      agent.destroy();
      await tls.destroy();
    },
  };
}
