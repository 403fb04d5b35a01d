/**
 * Every agent call has a deadline (src/agent/client.ts): against an agent that never answers, JSON calls fail
 * with `AGENT_TIMEOUT` after their kind's deadline, a file stream after `idleMs` without a byte (while a slow
 * stream that keeps moving is left alone), and a Cassandra backup attempt whose calls expire fails cleanly:
 * prepare rejects, capture settles with the node reported, the window check reports instead of hanging.
 * No Cassandra needed: the "agent" is a plain HTTP server on loopback that holds every request.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../../src/agent/client.ts';
import { StillpointError } from '../../../src/errors.ts';
import type { MemberSpec } from '../../../src/engines/contract.ts';
import { never, openBackup, tempDirStore } from '../support.ts';

/** Resolves with the error code (and how long it took) of a promise that must reject. */
async function failure(p: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const started = performance.now();
  try {
    await p;
  } catch (error) {
    return {
      code: error instanceof StillpointError ? String(error.code) : String(error),
      ms: performance.now() - started,
    };
  }
  throw new Error('expected a rejection');
}

describe('agent client deadlines (an agent that never answers)', () => {
  let server: Server;
  let url: string;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const slow = url.searchParams.get('path')?.includes('slow') === true;
      if (url.pathname === '/v1/file' && !slow) {
        // One chunk, then silence: a stalled stream.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(1024));
      } else if (url.pathname === '/v1/file') {
        // Slow but moving: a chunk every 100 ms for 1.2 s, well past the 300 ms idle deadline in total.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let n = 0;
        const timer = setInterval(() => {
          if (++n > 12) {
            clearInterval(timer);
            res.end();
          } else res.write(Buffer.alloc(1024));
        }, 100);
        return;
      }
      held.push(res); // never answered
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const deadlines = { statusMs: 300, snapshotMs: 600, listMs: 400, idleMs: 300, nodeMs: 500 };

  it('fails each JSON call with AGENT_TIMEOUT after its kind’s deadline', async () => {
    const client = new AgentClient({ url }, deadlines);
    const identity = await failure(client.identity());
    expect(identity.code).toBe('AGENT_TIMEOUT');
    expect(identity.ms).toBeGreaterThanOrEqual(290);
    expect(identity.ms).toBeLessThan(2_000);
    const snapshot = await failure(client.snapshot('t1', ['ks'], undefined, false));
    expect(snapshot.code).toBe('AGENT_TIMEOUT');
    expect(snapshot.ms).toBeGreaterThanOrEqual(590);
    expect(snapshot.ms).toBeLessThan(2_500);
    expect((await failure(client.flush(['ks']))).code).toBe('AGENT_TIMEOUT');
    expect((await failure(client.clearSnapshot('t1'))).code).toBe('AGENT_TIMEOUT');
  });

  it('fails a stalled file stream with AGENT_TIMEOUT after idleMs, and leaves a slow moving one alone', async () => {
    const client = new AgentClient({ url }, deadlines);
    const stalled = await client.readFile('ks/t-1/snapshots/x/a-Data.db');
    const read = async (stream: Readable): Promise<number> => {
      let bytes = 0;
      for await (const chunk of stream) bytes += (chunk as Buffer).length;
      return bytes;
    };
    const r = await failure(read(stalled));
    expect(r.code).toBe('AGENT_TIMEOUT');
    expect(r.ms).toBeLessThan(2_000);
    // The same idle deadline on a stream that takes 1.2 s but never stops for 300 ms: it completes.
    expect(await read(await client.readFile('ks/t-1/snapshots/x/slow-Data.db'))).toBe(12 * 1024);
  });

  it('fails an upload the agent never reads or answers with AGENT_TIMEOUT', async () => {
    const client = new AgentClient({ url }, deadlines);
    const r = await failure(client.stage('r1', 'ks', 't', 'a-Data.db', Readable.from([Buffer.alloc(1024)])));
    expect(r.code).toBe('AGENT_TIMEOUT');
    expect(r.ms).toBeLessThan(2_000);
  });

  it('lets a backup attempt whose agent calls expire fail cleanly (no call hangs)', async () => {
    const store = await tempDirStore();
    const member: MemberSpec = {
      name: 'cass',
      engine: 'cassandra',
      connection: { kind: 'cassandra', contactPoints: ['127.0.0.1'], port: 1, localDataCenter: 'dc1' },
      namespaces: ['ks'],
      options: { agents: [{ url }], agentDeadlines: deadlines },
    };
    const session = openBackup(store, member, 'b1');
    try {
      expect((await failure(session.prepare(never))).code).toBe('AGENT_TIMEOUT');
      await session.capture(never); // settles: the node's failure is the window's problem
      const problems = (await session.windowProblems?.(never)) ?? [];
      expect(problems.join('\n')).toMatch(/did not snapshot: .*no answer within 600 ms/);
      expect(problems.join('\n')).toMatch(/ring unreadable after the pause: .*no answer within 300 ms/);
      const started = performance.now();
      await session.discard();
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      await session.close();
      await store.destroy();
    }
  });
});
