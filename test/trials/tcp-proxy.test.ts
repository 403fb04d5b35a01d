import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../src/lab/trials/tcp-proxy.ts';

/** An upstream echo server that also counts what it received. */
interface Echo {
  readonly server: Server;
  port: number;
  received: number;
  readonly sockets: Set<Socket>;
}

async function startEcho(): Promise<Echo> {
  const echo: Echo = { server: createServer(), port: 0, received: 0, sockets: new Set() };
  echo.server.on('connection', (socket) => {
    echo.sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      echo.received += chunk.length;
      socket.write(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => echo.sockets.delete(socket));
  });
  echo.server.listen(0, '127.0.0.1');
  await once(echo.server, 'listening');
  const addr = echo.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  echo.port = addr.port;
  return echo;
}

/** A client that collects every byte it receives. */
async function dial(port: number): Promise<{ socket: Socket; data: () => string; closed: Promise<unknown> }> {
  const socket = connect({ host: '127.0.0.1', port });
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  socket.on('error', () => undefined);
  // events.once would reject on 'error' (ECONNRESET is expected here): wait for 'close' alone.
  const closed = new Promise((resolve) => socket.on('close', resolve));
  await once(socket, 'connect');
  return { socket, data: () => text, closed };
}

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tcp proxy', () => {
  let echo: Echo;
  let proxy: TcpProxy;
  const clients: Socket[] = [];

  beforeEach(async () => {
    echo = await startEcho();
    proxy = await startTcpProxy({ upstreamHost: '127.0.0.1', upstreamPort: echo.port });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await proxy.close();
    for (const s of echo.sockets) s.destroy();
    await new Promise((r) => echo.server.close(r));
  });

  async function client() {
    const c = await dial(proxy.port);
    clients.push(c.socket);
    return c;
  }

  it('passes bytes both ways', async () => {
    const c = await client();
    c.socket.write('hello');
    await until(() => c.data() === 'hello');
    expect(proxy.stats().bytesUp).toBe(5);
    expect(proxy.stats().bytesDown).toBe(5);
    expect(proxy.address).toBe(`127.0.0.1:${proxy.port}`);
  });

  it('delays each chunk by at least delayMs in each direction, keeping order', async () => {
    proxy.setMode({ kind: 'delay', delayMs: 150 });
    const c = await client();
    const start = performance.now();
    c.socket.write('a');
    await sleep(20);
    proxy.setMode({ kind: 'pass' }); // a later pass-mode chunk must not overtake the delayed one
    c.socket.write('b');
    await until(() => c.data().length === 2);
    // A lower bound only: the proxy guarantees it; a slow machine can only make it larger.
    expect(performance.now() - start).toBeGreaterThanOrEqual(145);
    expect(c.data()).toBe('ab');
  });

  it('drop holds the connection open and forwards nothing; pass resumes it', async () => {
    const c = await client();
    c.socket.write('x');
    await until(() => c.data() === 'x');
    proxy.setMode({ kind: 'drop' });
    c.socket.write('lost');
    await sleep(300);
    expect(c.data()).toBe('x');
    expect(proxy.stats().bytesDropped).toBe(4);
    expect(echo.received).toBe(1);
    expect(c.socket.destroyed).toBe(false);
    expect(proxy.stats().open).toBe(1);
    proxy.setMode({ kind: 'pass' });
    c.socket.write('y');
    await until(() => c.data() === 'xy');
  });

  it('reset destroys live connections and refuses new ones', async () => {
    const live = await client();
    live.socket.write('1');
    await until(() => live.data() === '1');
    proxy.setMode({ kind: 'reset' });
    await live.closed;
    expect(proxy.stats().resets).toBeGreaterThanOrEqual(1);
    const late = connect({ host: '127.0.0.1', port: proxy.port });
    late.on('error', () => undefined);
    clients.push(late);
    await new Promise((resolve) => late.on('close', resolve));
    expect(proxy.stats().open).toBe(0);
    proxy.setMode({ kind: 'pass' });
    const again = await client();
    again.socket.write('2');
    await until(() => again.data() === '2');
  });

  it('redirect resets live connections and sends new ones to the other port; pass restores the upstream', async () => {
    const other = await startEcho();
    try {
      const live = await client();
      live.socket.write('1');
      await until(() => live.data() === '1');
      proxy.setMode({ kind: 'redirect', port: other.port });
      await live.closed;
      const moved = await client();
      moved.socket.write('22');
      await until(() => moved.data() === '22');
      expect(other.received).toBe(2);
      expect(echo.received).toBe(1);
      proxy.setMode({ kind: 'pass' });
      const back = await client();
      back.socket.write('3');
      await until(() => back.data() === '3');
      expect(echo.received).toBe(2);
    } finally {
      for (const s of other.sockets) s.destroy();
      await new Promise((r) => other.server.close(r));
    }
  });

  it('close() ends connections and stops listening', async () => {
    const c = await client();
    await proxy.close();
    await c.closed;
    const refused = connect({ host: '127.0.0.1', port: proxy.port });
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
    await proxy.close(); // idempotent
  });
});
