/**
 * `stillpoint serve`: a read-only HTTP server over the catalog — the dashboard (a static bundle built into
 * dist/serve/ui/ at build time), its JSON API and Prometheus /metrics. It never writes: every method other
 * than GET and HEAD is refused (405). On loopback (the default) no token is needed; on any other address a
 * bearer token is required, checked on every request in constant time.
 *
 * API (JSON, every time epoch ms and UTC ISO where named *At):
 *   GET /api/overview          groups, RPO, consistent PITR windows, pause health, now
 *   GET /api/backups           the timeline, oldest first
 *   GET /api/backups/<id>      one backup: record, members, handles, artifacts, events, verification
 *   GET /api/pitr              the consistent PITR window of every group, with gaps
 *   GET /metrics               Prometheus text format
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Catalog } from '../catalog/catalog.ts';
import { ConfigError } from '../errors.ts';
import { buildRegistry } from '../metrics/catalog-metrics.ts';
import { isLoopbackHost } from '../pause/listener-security.ts';
import { snapshot } from '../catalog/catalog-view.ts';

export interface ServeOptions {
  readonly catalog: Catalog;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 8080; 0 picks a free port. */
  readonly port?: number;
  /** Bearer token; required when `host` is not loopback. */
  readonly token?: string;
  /** Directory holding index.html and app.js (default: ./ui next to this module, as built into dist/). */
  readonly uiDir?: string;
  /** The clock (tests). */
  readonly now?: () => number;
}

export interface RunningServe {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const DEFAULT_UI_DIR = fileURLToPath(new URL('./ui/', import.meta.url));

export async function startServe(options: ServeOptions): Promise<RunningServe> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && (options.token === undefined || options.token === '')) {
    throw new ConfigError('SERVE_TOKEN_REQUIRED', `serve on ${host} (not loopback) needs a bearer token.`, {
      context: { host },
      hint: 'Pass --token-file <file> or set STILLPOINT_SERVE_TOKEN, or bind 127.0.0.1 and use a port-forward.',
    });
  }
  const uiDir = options.uiDir ?? DEFAULT_UI_DIR;
  if (!existsSync(join(uiDir, 'app.js'))) {
    throw new ConfigError('SERVE_UI_MISSING', `The dashboard bundle is not in ${uiDir}.`, {
      context: { uiDir },
      hint: 'Run `npm run build` (it bundles src/serve/ui into dist/serve/ui), then run the compiled CLI.',
    });
  }
  const assets = new Map<string, { type: string; body: Buffer }>([
    ['/', { type: 'text/html; charset=utf-8', body: readFileSync(join(uiDir, 'index.html')) }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(join(uiDir, 'app.js')) }],
  ]);
  const now = options.now ?? Date.now;
  const tokenDigest = options.token ? digest(options.token) : undefined;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      send(res, 500, {
        error: { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) },
      });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, { error: { code: 'READ_ONLY', message: 'stillpoint serve is read-only.' } });
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    // The page and its script hold no data: served without the token, which the page then sends with every
    // API call (the operator opens …/#token=<token>).
    const asset = assets.get(path === '/index.html' ? '/' : path);
    if (asset !== undefined) {
      res.writeHead(200, { 'Content-Type': asset.type, 'Cache-Control': 'no-cache', ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (tokenDigest !== undefined && !authorized(req, tokenDigest)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="stillpoint"');
      send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'A bearer token is required.' } });
      return;
    }
    if (path === '/metrics') {
      const registry = buildRegistry(snapshot(options.catalog, now()));
      res.writeHead(200, { 'Content-Type': registry.contentType });
      res.end(await registry.metrics());
      return;
    }
    if (path === '/api/overview') {
      const view = snapshot(options.catalog, now());
      send(res, 200, {
        nowMs: view.nowMs,
        groups: view.groups,
        rpo: view.rpo,
        pitr: view.pitr,
        pauseHealth: view.pauseHealth,
      });
      return;
    }
    if (path === '/api/backups') {
      send(res, 200, { backups: snapshot(options.catalog, now()).timeline });
      return;
    }
    if (path === '/api/pitr') {
      send(res, 200, { pitr: snapshot(options.catalog, now()).pitr });
      return;
    }
    const one = /^\/api\/backups\/([A-Za-z0-9._-]+)$/.exec(path);
    if (one !== null) {
      const record = options.catalog.find(one[1]!);
      if (record === undefined) {
        send(res, 404, {
          error: { code: 'BACKUP_NOT_FOUND', message: `No backup ${one[1]!} in the catalog.` },
        });
        return;
      }
      const view = snapshot(options.catalog, now());
      const { owner: _owner, ...shown } = record;
      send(res, 200, {
        backup: shown,
        row: view.timeline.find((r) => r.id === record.id),
        verification: view.verification[record.id],
        events: options.catalog.events(record.id),
      });
      return;
    }
    send(res, 404, { error: { code: 'NOT_FOUND', message: `No route ${path}.` } });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    close: () => closeServer(server),
  };
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'",
  'X-Content-Type-Options': 'nosniff',
};

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Constant-time: both sides hashed to the same length first. */
function authorized(req: IncomingMessage, expected: Buffer): boolean {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (.+)$/.exec(header);
  return match !== null && timingSafeEqual(digest(match[1]!), expected);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
