/**
 * The `cassandra` engine on a REAL Cassandra 5.0 node with a real `stillpoint agent` (HTTP, token) in front:
 * snapshot inside the pause, differential upload (a second backup after ~1 % of rows changed uploads ≤ 5 %
 * of the first one's bytes), a node restarted around the pause invalidates the window, and a
 * non-destructive restore by `nodetool import` into new keyspaces reads back exactly the backed-up rows.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentServer, type AgentServer } from '../../../src/agent/server.ts';
import { JmxSession } from '../../../src/agent/jmx-session.ts';
import { NodeOps } from '../../../src/agent/node-ops.ts';
import type { MemberSpec } from '../../../src/engines/contract.ts';
import {
  cassandraUnavailable,
  startLocalCassandra,
  type LocalCassandra,
} from '../../../src/lab/local-servers/cassandra-server.ts';
import type { Row, Storage, TableSchema } from '../../../src/txn/contract.ts';
import { createStorage } from '../../../src/txn/storages/index.ts';
import { finishWindow, never, openBackup, openRestore, tempDirStore } from '../support.ts';

const TOKEN = 'agent-test-token';
const why = cassandraUnavailable();
const PAD = 'x'.repeat(900);
/** Incompressible notes (SSTables are LZ4-compressed): ~900 bytes of hex per row. */
const noise = (): string => randomBytes(450).toString('hex');

const ROWS: TableSchema = {
  namespace: 'eng_bank',
  table: 'accounts',
  partitionKey: ['id'],
  clusteringKey: [],
  columns: { id: 'INT', balance: 'INT', note: 'TEXT' },
};
const T = { namespace: ROWS.namespace, table: ROWS.table };

if (why !== undefined) describe.skip(`cassandra engine: ${why}`, () => {});
else
  describe('cassandra engine (real node + agent)', () => {
    let server: LocalCassandra;
    let agent: AgentServer;
    let store: Awaited<ReturnType<typeof tempDirStore>>;
    let storage: Storage;
    let member: MemberSpec;

    beforeAll(async () => {
      server = await startLocalCassandra();
      const node = server.nodes[0]!;
      agent = await startAgentServer(
        new NodeOps({
          nodetool: node.nodetoolArgv,
          dataDirs: [node.dataDir],
          jmx: { host: '127.0.0.1', port: node.jmxPort },
        }),
        {
          host: '127.0.0.1',
          port: 0,
          token: TOKEN,
        },
      );
      store = await tempDirStore();
      storage = await createStorage('cass', server.connection());
      await storage.createTable(ROWS);
      const N = 10_000;
      const puts = Array.from({ length: N }, (_, id) => ({
        kind: 'put' as const,
        table: T,
        key: { id },
        values: { balance: 100, note: `${id}-${noise()}`, tx_id: `seed${id}`, tx_state: 3, tx_version: 1 },
      }));
      for (let i = 0; i < puts.length; i += 500) await storage.mutate(puts.slice(i, i + 500));
      member = {
        name: 'cass',
        engine: 'cassandra',
        connection: server.connection(),
        namespaces: ['eng_bank'],
        options: { agents: [{ url: agent.url, token: TOKEN }] },
      };
    }, 600_000);
    afterAll(async () => {
      await storage?.close();
      await agent?.close();
      await server?.destroy();
      await store?.destroy();
    });

    const backup = async (id: string) => {
      const session = openBackup(store, member, id);
      try {
        expect((await session.preflight(never)).every((c) => c.ok)).toBe(true);
        await session.prepare(never);
        const started = performance.now();
        await session.capture(never);
        const captureMs = performance.now() - started;
        expect(await session.windowProblems?.(never)).toEqual([]);
        const finished = await session.finish(finishWindow, never);
        return { finished, captureMs };
      } finally {
        await session.close();
      }
    };

    it('uploads a second backup after ~1 % of rows changed differentially (≤ 5 % of the first one’s bytes)', async () => {
      const first = await backup('b1');
      const d1 = first.finished.detail as { uploadedBytes: number; referencedBytes: number };
      expect(d1.uploadedBytes).toBeGreaterThan(1_000_000);
      expect(d1.referencedBytes).toBe(0);
      await storage.mutate(
        Array.from({ length: 100 }, (_, i) => ({
          kind: 'put' as const,
          table: T,
          key: { id: i * 97 },
          values: { balance: 50, note: `changed-${PAD}` },
        })),
      );
      const second = await backup('b2');
      const d2 = second.finished.detail as { uploadedBytes: number; referencedBytes: number };
      const ratio = d2.uploadedBytes / d1.uploadedBytes;
      console.log(
        `cassandra differential: first ${d1.uploadedBytes} B, second ${d2.uploadedBytes} B uploaded + ${d2.referencedBytes} B referenced (ratio ${(ratio * 100).toFixed(2)} %); capture ${first.captureMs.toFixed(0)} / ${second.captureMs.toFixed(0)} ms`,
      );
      expect(ratio).toBeLessThanOrEqual(0.05);
      expect(d2.referencedBytes).toBeGreaterThanOrEqual(d1.uploadedBytes * 0.9);
      // Every artifact the second backup needs is in the store with its checksum.
      for (const ref of second.finished.artifacts) expect(await store.verify(ref)).toBe(true);

      // Non-destructive restore of b2 into new keyspaces on the live node: the exact rows of b2.
      const record = {
        backupId: 'b2',
        member,
        handle: second.finished.handle,
        artifacts: second.finished.artifacts,
      };
      const restore = openRestore(store, record, { suffix: 'r2' });
      try {
        expect((await restore.inspect(never)).state).toBe('absent');
        const restored = await restore.restore({ force: false, signal: never });
        expect(restored.namespaces).toEqual({ eng_bank: 'eng_bank_r2' });
        await restore.markFinished();
        expect((await restore.inspect(never)).state).toBe('restored');
      } finally {
        await restore.close();
      }
      const copy = await createStorage('copy', server.connection());
      try {
        copy.usePhysicalNames?.({ eng_bank: 'eng_bank_r2' });
        const rows: Row[] = [];
        for await (const row of copy.scanAll(T)) rows.push(row);
        expect(rows).toHaveLength(10_000);
        expect(rows.filter((r) => r.balance === 50)).toHaveLength(100);
        expect(await copy.get(T, { id: 97 })).toMatchObject({ balance: 50, note: `changed-${PAD}` });
        expect(await copy.get(T, { id: 98 })).toMatchObject({ balance: 100 });
      } finally {
        await copy.close();
      }
      // The live keyspace is untouched.
      expect(await storage.get(T, { id: 97 })).toMatchObject({ balance: 50 });
    }, 600_000);

    it('invalidates the window when a node restarts around the pause (new gossip generation)', async () => {
      const session = openBackup(store, member, 'b3');
      try {
        await session.prepare(never);
        await session.capture(never);
        const node = server.nodes[0]!;
        await node.stop();
        await node.start();
        const problems = await session.windowProblems?.(never);
        expect(problems?.join(' ')).toMatch(/ring changed/);
        await session.discard();
        // The retry (a new capture on the same session) is clean.
        await session.capture(never);
        expect(await session.windowProblems?.(never)).toEqual([]);
      } finally {
        await session.close();
      }
    }, 600_000);

    it('snapshots through one long-lived JMX connection (no nodetool JVM per call), and keeps working after a failed call', async () => {
      const node = server.nodes[0]!;
      const ops = new NodeOps({ nodetool: node.nodetoolArgv, dataDirs: [node.dataDir] });
      const jmx = new JmxSession('127.0.0.1', node.jmxPort);
      try {
        await jmx.run(['ping']);
        const ms: number[] = [];
        for (const tag of ['jmx-1', 'jmx-2', 'jmx-3']) {
          const started = performance.now();
          await jmx.run(['snapshot', tag, 'eng_bank']);
          ms.push(performance.now() - started);
          expect((await ops.snapshotFiles(tag, ['eng_bank'])).length, tag).toBeGreaterThan(0);
          await ops.clearSnapshot(tag);
        }
        console.log(`cassandra JMX snapshot: ${ms.map((m) => m.toFixed(0)).join(' / ')} ms`);
        await expect(jmx.run(['snapshot', 'jmx-bad', 'no_such_keyspace'])).rejects.toThrow(/JMX snapshot/);
        await jmx.run(['ping']);
      } finally {
        jmx.close();
      }
    }, 300_000);

    it('refuses agent calls without the token', async () => {
      const res = await fetch(`${agent.url}/v1/identity`);
      expect(res.status).toBe(401);
    });
  });
