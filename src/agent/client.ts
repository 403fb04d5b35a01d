/**
 * The engine's side of `stillpoint agent` (./server.ts): JSON calls and file streams over HTTP(S) with the
 * agent token. Errors become EngineError `AGENT_REQUEST_FAILED` naming the agent, or the agent's own code.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { EngineError } from '../errors.ts';
import { isErrorCode } from '../error-codes.ts';
import type { NodeIdentity, SnapshotFile, TableDir } from './node-ops.ts';

export interface AgentEndpoint {
  /** `https://node-1:7400` */
  readonly url: string;
  readonly token?: string;
  /** PEM of the CA that signed the agent's certificate. */
  readonly ca?: string | Buffer;
}

export class AgentClient {
  constructor(readonly endpoint: AgentEndpoint) {}

  identity(signal?: AbortSignal): Promise<NodeIdentity> {
    return this.json('GET', '/v1/identity', undefined, signal);
  }

  async flush(keyspaces: readonly string[], signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/flush', { keyspaces }, signal);
  }

  /**
   * Takes the snapshot; `list: false` skips listing and hashing its files (see {@link snapshotFiles}).
   * `snapshotMs`: the agent's whole call; `flushMs`: its flush share (when the agent's JMX helper timed it).
   */
  snapshot(
    tag: string,
    keyspaces: readonly string[],
    signal?: AbortSignal,
    list = true,
  ): Promise<{ snapshotMs: number; flushMs?: number; files: SnapshotFile[] }> {
    return this.json('POST', '/v1/snapshot', { tag, keyspaces, list }, signal);
  }

  snapshotFiles(tag: string, keyspaces: readonly string[], signal?: AbortSignal): Promise<SnapshotFile[]> {
    return this.json('POST', '/v1/snapshot-files', { tag, keyspaces }, signal);
  }

  async clearSnapshot(tag: string, signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/clear-snapshot', { tag }, signal);
  }

  async readFile(path: string, signal?: AbortSignal): Promise<Readable> {
    return this.call('GET', `/v1/file?path=${encodeURIComponent(path)}`, undefined, signal);
  }

  async stage(
    restore: string,
    keyspace: string,
    table: string,
    name: string,
    body: Readable,
    signal?: AbortSignal,
  ): Promise<void> {
    const q = new URLSearchParams({ restore, keyspace, table, name });
    const res = await this.call('PUT', `/v1/stage?${q.toString()}`, body, signal);
    res.resume();
  }

  async importStaged(restore: string, keyspace: string, table: string, signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/import', { restore, keyspace, table }, signal);
  }

  async clearStaging(restore: string, signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/clear-staging', { restore }, signal);
  }

  // ---- full-cluster restore ----

  async upNodes(signal?: AbortSignal): Promise<number> {
    return (await this.json<{ up: number }>('GET', '/v1/up-nodes', undefined, signal)).up;
  }

  async stopNode(signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/stop-node', {}, signal);
  }

  async startNode(signal?: AbortSignal): Promise<void> {
    await this.json('POST', '/v1/start-node', {}, signal);
  }

  clearData(tables: readonly TableDir[], signal?: AbortSignal): Promise<{ removed: number }> {
    return this.json('POST', '/v1/clear-data', { tables }, signal);
  }

  /** Writes one SSTable component into a table directory of the (stopped) node. */
  async place(
    restore: string,
    table: TableDir,
    name: string,
    body: Readable,
    signal?: AbortSignal,
  ): Promise<void> {
    const q = new URLSearchParams({ restore, keyspace: table.keyspace, dir: table.dir, name });
    const res = await this.call('PUT', `/v1/place?${q.toString()}`, body, signal);
    res.resume();
  }

  private async json<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.call(method, path, body === undefined ? undefined : JSON.stringify(body), signal);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  }

  /** One request; resolves with the response stream on 2xx, throws with the agent's error otherwise. */
  private call(
    method: string,
    path: string,
    body: string | Readable | undefined,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.endpoint.url);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: {
            ...(this.endpoint.token === undefined ? {} : { authorization: `Bearer ${this.endpoint.token}` }),
            ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}),
          },
          ...(this.endpoint.ca === undefined ? {} : { ca: this.endpoint.ca }),
          ...(signal === undefined ? {} : { signal }),
        },
        (res) => {
          if ((res.statusCode ?? 500) < 300) return resolve(res);
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: { code?: string; message?: string } = {};
            try {
              parsed = JSON.parse(text) as typeof parsed;
            } catch {
              parsed = { message: text };
            }
            reject(
              this.failure(
                `${method} ${url.pathname} answered ${res.statusCode}: ${parsed.message ?? ''}`,
                parsed.code,
              ),
            );
          });
        },
      );
      req.on('error', (error) =>
        reject(this.failure(`${method} ${url.pathname}: ${error.message}`, undefined, error)),
      );
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }

  private failure(message: string, code: string | undefined, cause?: unknown): EngineError {
    const known =
      code !== undefined && isErrorCode(code) && code.startsWith('AGENT_') ? code : 'AGENT_REQUEST_FAILED';
    return new EngineError(known as 'AGENT_REQUEST_FAILED', `Agent ${this.endpoint.url}: ${message}`, {
      hint: 'Check that `stillpoint agent` runs on that node, the token, the CA, and the node itself (nodetool status).',
      context: { agent: this.endpoint.url },
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

export { Readable };
