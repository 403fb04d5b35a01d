/**
 * `stillpoint agent`: a small HTTP(S) sidecar per Cassandra node that the `cassandra` engine calls. Token
 * (`Authorization: Bearer …`) and TLS as the admin server: on loopback anything goes, elsewhere both are
 * required unless the operator says insecure (src/pause/listener-security.ts).
 *
 *   GET  /v1/identity                        host id, gossip generation, tokens
 *   POST /v1/flush          {keyspaces}
 *   POST /v1/snapshot       {tag, keyspaces, list?} → {snapshotMs, flushMs?, files}  (snapshot, then list + sha256)
 *   GET  /v1/file?path=…                     a snapshot file's bytes
 *   POST /v1/clear-snapshot {tag}
 *   PUT  /v1/stage?restore=&keyspace=&table=&name=   body = one SSTable component, staged for import
 *   POST /v1/import         {restore, keyspace, table}                 `nodetool import` of the staged files
 *   POST /v1/clear-staging  {restore}
 */
import { createWriteStream } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { StillpointError } from '../errors.ts';
import { checkListenerSecurity } from '../pause/listener-security.ts';
import type { NodeOps, TableDir } from './node-ops.ts';
import { checkName } from './node-ops.ts';

export interface AgentServerOptions {
  readonly host: string;
  readonly port: number;
  readonly token?: string;
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly insecure?: boolean;
  readonly log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface AgentServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startAgentServer(ops: NodeOps, options: AgentServerOptions): Promise<AgentServer> {
  const log = options.log ?? (() => {});
  checkListenerSecurity(
    {
      host: options.host,
      token: options.token !== undefined,
      tls: options.tls !== undefined,
      insecure: options.insecure ?? false,
    },
    log,
  );
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(ops, options.token, req, res).catch((error: unknown) => {
      const code: string = error instanceof StillpointError ? String(error.code) : 'INTERNAL';
      const status = code === 'AGENT_BAD_PATH' ? 400 : 500;
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code, message: error instanceof Error ? error.message : String(error) }));
    });
  };
  const server =
    options.tls === undefined ? createHttpServer(handler) : createHttpsServer(options.tls, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `${options.tls === undefined ? 'http' : 'https'}://${options.host}:${port}`;
  log('agent listening', { url });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        ops.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  ops: NodeOps,
  token: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (token !== undefined && !tokenMatches(req.headers.authorization, token)) {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'AGENT_REQUEST_FAILED', message: 'missing or wrong agent token' }));
    return;
  }
  const url = new URL(req.url ?? '/', 'http://agent');
  const route = `${req.method ?? 'GET'} ${url.pathname}`;
  const json = (body: unknown): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  switch (route) {
    case 'GET /v1/identity':
      return json(await ops.identity());
    case 'POST /v1/flush': {
      const body = await readJson(req);
      await ops.flush(strings(body.keyspaces));
      return json({ ok: true });
    }
    case 'POST /v1/snapshot': {
      const body = await readJson(req);
      const started = Date.now();
      const { flushMs } = await ops.snapshot(String(body.tag), strings(body.keyspaces));
      const snapshotMs = Date.now() - started;
      const timings = { snapshotMs, ...(flushMs === undefined ? {} : { flushMs }) };
      // `list: false` (inside the pause): answer at once; the files are listed and hashed after the unpause.
      if (body.list === false) return json({ ...timings, files: [] });
      return json({ ...timings, files: await ops.snapshotFiles(String(body.tag), strings(body.keyspaces)) });
    }
    case 'POST /v1/snapshot-files': {
      const body = await readJson(req);
      return json(await ops.snapshotFiles(String(body.tag), strings(body.keyspaces)));
    }
    case 'GET /v1/file': {
      const stream = ops.openSnapshotFile(url.searchParams.get('path') ?? '');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      await pipeline(stream, res);
      return;
    }
    case 'POST /v1/clear-snapshot': {
      await ops.clearSnapshot(String((await readJson(req)).tag));
      return json({ ok: true });
    }
    case 'PUT /v1/stage': {
      const p = url.searchParams;
      const name = p.get('name') ?? '';
      checkName(name, 'file name');
      const dir = await ops.stagingDirFor(
        p.get('restore') ?? '',
        p.get('keyspace') ?? '',
        p.get('table') ?? '',
      );
      await pipeline(req, createWriteStream(join(dir, name), { mode: 0o600 }));
      return json({ ok: true });
    }
    case 'POST /v1/import': {
      const body = await readJson(req);
      await ops.importStaged(String(body.restore), String(body.keyspace), String(body.table));
      return json({ ok: true });
    }
    case 'POST /v1/clear-staging': {
      await ops.clearStaging(String((await readJson(req)).restore));
      return json({ ok: true });
    }
    case 'GET /v1/up-nodes':
      return json({ up: await ops.upNodes() });
    case 'POST /v1/stop-node':
      await ops.stopNode();
      return json({ ok: true });
    case 'POST /v1/start-node':
      await ops.startNode();
      return json({ ok: true });
    case 'POST /v1/clear-data':
      return json(await ops.clearData(tableDirs((await readJson(req)).tables)));
    case 'PUT /v1/place': {
      const p = url.searchParams;
      const restore = p.get('restore') ?? '';
      const name = p.get('name') ?? '';
      await pipeline(req, createWriteStream(await ops.placeTemp(restore, name), { mode: 0o600 }));
      await ops.placeCommit(restore, { keyspace: p.get('keyspace') ?? '', dir: p.get('dir') ?? '' }, name);
      return json({ ok: true });
    }
    default:
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'AGENT_REQUEST_FAILED', message: `no route ${route}` }));
  }
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

function strings(value: unknown): string[] {
  const list = Array.isArray(value) ? value.map(String) : [];
  for (const v of list) checkName(v, 'keyspace');
  return list;
}

function tableDirs(value: unknown): TableDir[] {
  const list = Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
  return list.map((t) => ({ keyspace: String(t.keyspace), dir: String(t.dir) }));
}
