/**
 * A loopback TCP proxy the trial runner controls: it listens on 127.0.0.1 (port 0 by default) and forwards
 * every connection to one upstream `host:port`. Putting it between a client and a node's admin port or a
 * database makes that network path slow, silent or broken on demand, without touching the server.
 *
 * Modes (switchable at any time, applying to live and new connections):
 * - `pass`: forward bytes as they come;
 * - `delay`: forward every chunk after `delayMs` (order preserved per direction);
 * - `drop`: a blackhole — accept and hold connections, forward nothing (the peer sees a silent network,
 *   not a refusal); bytes that arrive meanwhile are discarded;
 * - `reset`: destroy every connection (live ones at once, new ones on accept);
 * - `redirect`: forward new connections to another loopback port instead of the upstream (live ones are
 *   reset, so the client reconnects there): puts a misbehaving server in front of the real one.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { InternalError } from '../../errors.ts';

export type ProxyMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'delay'; readonly delayMs: number }
  | { readonly kind: 'drop' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'redirect'; readonly port: number };

export interface TcpProxyOptions {
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  /** Listen port (default 0: any free port). */
  readonly listenPort?: number;
  /** Initial mode (default `pass`). */
  readonly mode?: ProxyMode;
  /** Deadline for connecting upstream, ms (default 5 000); the client connection is destroyed on expiry. */
  readonly connectTimeoutMs?: number;
}

export interface TcpProxyStats {
  /** Connections accepted since start. */
  readonly accepted: number;
  /** Connections currently open (client side). */
  readonly open: number;
  /** Bytes forwarded client → upstream and upstream → client. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Bytes discarded in `drop` mode. */
  readonly bytesDropped: number;
  /** Connections destroyed by `reset`. */
  readonly resets: number;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** `host:port` of the proxy, ready for a target list. */
  readonly address: string;
  readonly mode: ProxyMode;
  setMode(mode: ProxyMode): void;
  stats(): TcpProxyStats;
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
  /**
   * Per direction, chunks waiting to be written, in arrival order, each with the time it is due: one queue
   * drained by one timer, so a later chunk never overtakes an earlier one (two timers due at the same
   * moment may fire in either order).
   */
  readonly queue: { up: Queued[]; down: Queued[] };
}

interface Queued {
  readonly chunk: Buffer;
  readonly to: Socket;
  readonly due: number;
}

/** Starts a proxy; the caller owns it and must `close()` it. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let mode: ProxyMode = options.mode ?? { kind: 'pass' };
  const counters = { accepted: 0, bytesUp: 0, bytesDown: 0, bytesDropped: 0, resets: 0 };
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;

  const destroyPair = (pair: Pair): void => {
    pair.client.destroy();
    pair.upstream?.destroy();
    pairs.delete(pair);
  };

  /** Forwards one chunk according to the mode at arrival time. */
  const forward = (chunk: Buffer, to: Socket | undefined, direction: 'up' | 'down', pair: Pair): void => {
    if (mode.kind === 'drop' || to === undefined) {
      counters.bytesDropped += chunk.length;
      return;
    }
    if (mode.kind === 'reset') {
      counters.resets += 1;
      destroyPair(pair);
      return;
    }
    const queue = pair.queue[direction];
    queue.push({ chunk, to, due: Date.now() + (mode.kind === 'delay' ? mode.delayMs : 0) });
    if (queue.length === 1) drain(queue, direction);
  };

  /** Writes the queue's due chunks in order; waits for the head when it is not due yet. */
  const drain = (queue: Queued[], direction: 'up' | 'down'): void => {
    for (let head = queue[0]; head !== undefined; head = queue[0]) {
      const wait = head.due - Date.now();
      if (wait > 0) {
        setTimeout(() => drain(queue, direction), wait).unref();
        return;
      }
      queue.shift();
      if (head.to.destroyed) continue;
      head.to.write(head.chunk);
      if (direction === 'up') counters.bytesUp += head.chunk.length;
      else counters.bytesDown += head.chunk.length;
    }
  };

  const server: Server = createServer((client) => {
    counters.accepted += 1;
    const pair: Pair = { client, upstream: undefined, queue: { up: [], down: [] } };
    pairs.add(pair);
    client.on('error', () => destroyPair(pair));
    client.on('close', () => destroyPair(pair));
    if (mode.kind === 'reset') {
      counters.resets += 1;
      client.resetAndDestroy();
      pairs.delete(pair);
      return;
    }
    // Buffer client bytes until upstream is connected; they pass through `forward` either way.
    const pending: Buffer[] = [];
    client.on('data', (chunk: Buffer) => {
      if (pair.upstream?.readyState === 'open') forward(chunk, pair.upstream, 'up', pair);
      else pending.push(chunk);
    });
    const upstream =
      mode.kind === 'redirect'
        ? connect({ host: '127.0.0.1', port: mode.port })
        : connect({ host: options.upstreamHost, port: options.upstreamPort });
    pair.upstream = upstream;
    upstream.setTimeout(connectTimeoutMs, () => {
      if (upstream.connecting) destroyPair(pair);
    });
    upstream.on('connect', () => {
      upstream.setTimeout(0);
      for (const chunk of pending.splice(0)) forward(chunk, upstream, 'up', pair);
    });
    upstream.on('data', (chunk: Buffer) => forward(chunk, client, 'down', pair));
    upstream.on('error', () => destroyPair(pair));
    upstream.on('close', () => destroyPair(pair));
  });

  server.listen(options.listenPort ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') {
    throw new InternalError('PROXY_NO_ADDRESS', 'The TCP proxy is listening but has no TCP address.');
  }
  const port = addr.port;
  let closed = false;

  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    setMode(next) {
      mode = next;
      if (next.kind === 'reset' || next.kind === 'redirect') {
        for (const pair of [...pairs]) {
          counters.resets += 1;
          pair.client.resetAndDestroy();
          destroyPair(pair);
        }
      }
    },
    stats: () => ({ ...counters, open: pairs.size }),
    async close() {
      if (closed) return;
      closed = true;
      for (const pair of [...pairs]) destroyPair(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
