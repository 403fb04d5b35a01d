/**
 * The engine's side of `stillpoint agent` (./server.ts): JSON calls and file streams over HTTP(S) with the
 * agent token. Errors become EngineError `AGENT_REQUEST_FAILED` naming the agent, or the agent's own code.
 *
 * Every call has a deadline ({@link AgentDeadlines}): a JSON call a total one by kind of work, a file stream
 * an idle one (no byte either way for that long), since a large SSTable may take minutes but never stalls.
 * Expiry is `AGENT_TIMEOUT`: a node that restarted or hangs under its agent fails the attempt, never the
 * backup's progress forever.
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

/** How long each kind of agent call may take, ms. */
export interface AgentDeadlines {
  /** identity, up-nodes, clear-snapshot, clear-staging, clear-data: one nodetool JVM and a short call. */
  readonly statusMs: number;
  /** A flush of the member's keyspaces, or a snapshot (a small flush, then hard links). */
  readonly snapshotMs: number;
  /** Listing and hashing a snapshot's files (reads every byte of the node's SSTables once). */
  readonly listMs: number;
  /** File streams (read, stage, place): no byte either way for this long. */
  readonly idleMs: number;
  /** `nodetool import`, drain-and-stop and start of a node (full-cluster restore). */
  readonly nodeMs: number;
}

/** Defaults: a nodetool JVM takes 1.5–2 s on two cores, so `statusMs` leaves room for a busy machine. */
export const DEFAULT_AGENT_DEADLINES: AgentDeadlines = Object.freeze({
  statusMs: 30_000,
  snapshotMs: 120_000,
  listMs: 600_000,
  idleMs: 60_000,
  nodeMs: 1_800_000,
});

type Kind = Exclude<keyof AgentDeadlines, 'idleMs'>;

export class AgentClient {
  readonly deadlines: AgentDeadlines;

  constructor(
    readonly endpoint: AgentEndpoint,
    deadlines: Partial<AgentDeadlines> = {},
  ) {
    this.deadlines = { ...DEFAULT_AGENT_DEADLINES, ...deadlines };
  }

  identity(signal?: AbortSignal): Promise<NodeIdentity> {
    return this.json('statusMs', 'GET', '/v1/identity', undefined, signal);
  }

  async flush(keyspaces: readonly string[], signal?: AbortSignal): Promise<void> {
    await this.json('snapshotMs', 'POST', '/v1/flush', { keyspaces }, signal);
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
    return this.json(
      list ? ['snapshotMs', 'listMs'] : 'snapshotMs',
      'POST',
      '/v1/snapshot',
      { tag, keyspaces, list },
      signal,
    );
  }

  snapshotFiles(tag: string, keyspaces: readonly string[], signal?: AbortSignal): Promise<SnapshotFile[]> {
    return this.json('listMs', 'POST', '/v1/snapshot-files', { tag, keyspaces }, signal);
  }

  async clearSnapshot(tag: string, signal?: AbortSignal): Promise<void> {
    await this.json('statusMs', 'POST', '/v1/clear-snapshot', { tag }, signal);
  }

  /** The file's bytes; the stream fails with `AGENT_TIMEOUT` when none arrive for `idleMs`. */
  async readFile(path: string, signal?: AbortSignal): Promise<Readable> {
    return this.stream('GET', `/v1/file?path=${encodeURIComponent(path)}`, undefined, signal);
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
    const res = await this.stream('PUT', `/v1/stage?${q.toString()}`, body, signal);
    res.resume();
  }

  async importStaged(restore: string, keyspace: string, table: string, signal?: AbortSignal): Promise<void> {
    await this.json('nodeMs', 'POST', '/v1/import', { restore, keyspace, table }, signal);
  }

  async clearStaging(restore: string, signal?: AbortSignal): Promise<void> {
    await this.json('statusMs', 'POST', '/v1/clear-staging', { restore }, signal);
  }

  // ---- full-cluster restore ----

  async upNodes(signal?: AbortSignal): Promise<number> {
    return (await this.json<{ up: number }>('statusMs', 'GET', '/v1/up-nodes', undefined, signal)).up;
  }

  async stopNode(signal?: AbortSignal): Promise<void> {
    await this.json('nodeMs', 'POST', '/v1/stop-node', {}, signal);
  }

  async startNode(signal?: AbortSignal): Promise<void> {
    await this.json('nodeMs', 'POST', '/v1/start-node', {}, signal);
  }

  clearData(tables: readonly TableDir[], signal?: AbortSignal): Promise<{ removed: number }> {
    return this.json('statusMs', 'POST', '/v1/clear-data', { tables }, signal);
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
    const res = await this.stream('PUT', `/v1/place?${q.toString()}`, body, signal);
    res.resume();
  }

  /** One JSON call, answer read and parsed within the deadline of its kind (the sum, for two kinds). */
  private async json<T>(
    kind: Kind | readonly Kind[],
    method: string,
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<T> {
    const deadlineMs = (typeof kind === 'string' ? [kind] : kind).reduce(
      (sum, k) => sum + this.deadlines[k],
      0,
    );
    const expired = new AbortController();
    const timer = setTimeout(() => expired.abort(), deadlineMs);
    const { signal: both, unlink } = anyOf(expired.signal, signal);
    try {
      const res = await this.call(method, path, body === undefined ? undefined : JSON.stringify(body), both);
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
    } catch (error) {
      if (expired.signal.aborted)
        throw this.timeout(method, path, `no answer within ${deadlineMs} ms`, error);
      throw error;
    } finally {
      clearTimeout(timer);
      unlink();
    }
  }

  /** One streaming call: no total deadline, but `idleMs` without a byte either way fails it. */
  private stream(
    method: string,
    path: string,
    body: Readable | undefined,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    return this.call(method, path, body, signal, this.deadlines.idleMs);
  }

  /**
   * One request; resolves with the response stream on 2xx, throws with the agent's error otherwise. With
   * `idleMs`, a socket idle that long (request or response body) fails it with `AGENT_TIMEOUT`.
   */
  private call(
    method: string,
    path: string,
    body: string | Readable | undefined,
    signal?: AbortSignal,
    idleMs?: number,
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.endpoint.url);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let response: IncomingMessage | undefined;
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
          response = res;
          // The socket goes back to the keep-alive pool: its idle timer must not outlive this call.
          if (idleMs !== undefined) res.once('close', () => req.setTimeout(0));
          if ((res.statusCode ?? 500) < 300) return resolve(res);
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (error) => reject(this.asFailure(method, url, error)));
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
      if (idleMs !== undefined) {
        req.setTimeout(idleMs, () => {
          const error = this.timeout(method, path, `no byte moved for ${idleMs} ms`);
          // The caller may be reading the response already: it must see the code, not a bare "aborted".
          response?.destroy(error);
          req.destroy(error);
        });
      }
      req.on('error', (error) => reject(this.asFailure(method, url, error)));
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }

  /** A request error as the client's error (an idle timeout's own error passes through). */
  private asFailure(method: string, url: URL, error: Error): EngineError {
    if (error instanceof EngineError) return error;
    return this.failure(`${method} ${url.pathname}: ${error.message}`, undefined, error);
  }

  private timeout(method: string, path: string, what: string, cause?: unknown): EngineError {
    const route = new URL(path, this.endpoint.url).pathname;
    return new EngineError('AGENT_TIMEOUT', `Agent ${this.endpoint.url}: ${method} ${route}: ${what}.`, {
      hint:
        'The node or its JMX may be restarting, paused or overloaded: check `nodetool status` there and the ' +
        'agent’s log; if the call is only slow, raise the member’s `agentDeadlines`.',
      context: { agent: this.endpoint.url, route },
      ...(cause === undefined ? {} : { cause }),
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

/** A signal for one call that aborts with either source; `unlink` drops the listener on the caller's signal. */
function anyOf(
  own: AbortSignal,
  caller: AbortSignal | undefined,
): { signal: AbortSignal; unlink: () => void } {
  if (caller === undefined) return { signal: own, unlink: () => {} };
  const both = new AbortController();
  const onAbort = (event: Event): void => both.abort((event.target as AbortSignal).reason);
  for (const s of [own, caller]) {
    if (s.aborted) both.abort(s.reason);
    else s.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: both.signal,
    unlink: () => {
      for (const s of [own, caller]) s.removeEventListener('abort', onAbort);
    },
  };
}

export { Readable };
