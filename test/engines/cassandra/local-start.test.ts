/**
 * The lab's Cassandra starter (src/lab/local-servers/cassandra-server.ts) on a REAL Cassandra 5.0 JVM, when a
 * port it picked free is taken before the JVM binds it — what a trials campaign's Cassandra control met
 * ("127.0.0.1:33959 is in use by another process", then a 240 s wait on a JVM that had already exited):
 *
 * - a start whose port stays taken fails at once with Cassandra's own reason, after a few attempts, instead of
 *   waiting out the start-up deadline;
 * - a start whose port was taken once starts on fresh ports.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cassandraUnavailable,
  startLocalCassandra,
} from '../../../src/lab/local-servers/cassandra-server.ts';
import { freePort } from '../../../src/lab/local-servers/process.ts';

const why = cassandraUnavailable();

if (why !== undefined) describe.skip(`cassandra starter: ${why}`, () => {});
else
  describe('cassandra starter: a port taken before the JVM binds it', () => {
    let taken: Server;
    let takenPort = 0;
    beforeAll(async () => {
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      takenPort = (taken.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

    it('fails with the reason, not a start-up timeout, when the port stays taken', async () => {
      // Each attempt picks the storage port first (then the native and JMX ports of its one node).
      let picks = 0;
      const error = await startLocalCassandra({
        pickPort: () => (picks++ % 3 === 0 ? Promise.resolve(takenPort) : freePort()),
      }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/in use/i);
      expect(error?.message).not.toMatch(/timed out/);
      expect(picks).toBe(9); // three attempts
    }, 300_000);

    it('starts on fresh ports when the first pick was taken', async () => {
      // The first attempt's storage port is taken; the second attempt picks three fresh ports.
      const picked: number[] = [];
      const cluster = await startLocalCassandra({
        pickPort: async () => {
          const port = picked.length === 0 ? takenPort : await freePort();
          picked.push(port);
          return port;
        },
      });
      try {
        expect(picked.length).toBe(6);
        expect(cluster.nativePort).not.toBe(takenPort);
        expect(cluster.nodes[0]!.running()).toBe(true);
      } finally {
        await cluster.destroy();
      }
    }, 300_000);
  });
