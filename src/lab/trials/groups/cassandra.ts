/**
 * The `cassandra` trial group: a REAL 3-node Cassandra 5.0 cluster (127.0.0.1-3, RF 3) with one agent per
 * node, started once per campaign. Two `cassandra` members on that one cluster — `ca` (bank_a) and `cb`
 * (bank_b and the Coordinator) — so that a copy without a pause can tear between them (the negative control).
 * Each trial gets fresh keyspaces (the previous trial's are dropped first, and every node must agree on the
 * schema before they are created again) and waits for all three nodes to be up and normal, since a fault may
 * have restarted one. Restores import into new keyspaces on the live cluster
 * (`<ns>_<member>_r<…>`), dropped after the trial.
 *
 * `stopServer` (the database-stop / database-restart faults) stops one Cassandra node — a different one each
 * time — and its start function starts it again and waits for the ring: a node lost or restarted during the
 * pause, which the engine must answer with a retried attempt or an invalid/failed backup, never a torn one.
 * Each member reaches the first node's agent through a TCP proxy (the group's `proxies`), the others
 * directly. The database-path faults are not drawn for this group yet (every agent call has a deadline now,
 * but adding them would change the draws of the campaign's seed).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeOps } from '../../../agent/node-ops.ts';
import { startAgentServer, type AgentServer } from '../../../agent/server.ts';
import type { MemberSpec } from '../../../engines/contract.ts';
import type { CassandraStorage } from '../../../txn/storages/cassandra/cassandra-storage.ts';
import { createStorage } from '../../../txn/storages/index.ts';
import {
  startLocalCassandra,
  waitForRing,
  waitForSchemaAgreement,
  type LocalCassandra,
} from '../../local-servers/cassandra-server.ts';
import type { TrialGroupKind, TrialGroupServers } from '../group.ts';
import { startTcpProxy, type TcpProxy } from '../tcp-proxy.ts';
import { restoredName } from './targets.ts';

const TOKEN = 'trial-agent-token';
const LIVE_KEYSPACES = ['bank_a', 'bank_b', 'coordinator'];
/** Keyspaces a restore of this group creates: `<namespace>_<member>_r<base36>`. */
const RESTORED = /^(bank_a|bank_b|coordinator)_c[ab]_r[a-z0-9]+$/;

export const cassandraGroup: TrialGroupKind = {
  name: 'cassandra',
  modes: ['pause-window', 'snapshot'],
  // Three nodes' SSTables are listed, hashed and uploaded in finish, on two cores next to three JVMs: the
  // complete backups of the issue-18 campaign took 89–104 s, so one with a retried attempt passes the
  // default 120 s (its trial 47). A hang is still caught: every agent call has a deadline well below this.
  // Its snapshot-mode capture (a flush and snapshot on three JVMs) took over 10 s at load ~30 (this
  // campaign's trial 7, CAPTURE_TIMEOUT): it keeps the plan default of 30 s.
  sizes: { backupTimeoutMs: 300_000, captureTimeoutMs: 30_000 },
  async start(): Promise<TrialGroupServers> {
    const cluster = await startLocalCassandra({ nodes: 3, heapMb: 320 });
    const agents: AgentServer[] = [];
    // A token FILE, not an inline token: the catalog keeps no inline secret, and the trial restores from it.
    const secrets = await mkdtemp(join(tmpdir(), 'stillpoint-trial-agents-'));
    const tokenFile = join(secrets, 'agent.token');
    try {
      await writeFile(tokenFile, TOKEN, { mode: 0o600 });
      for (const node of cluster.nodes) {
        const ops = new NodeOps({
          nodetool: node.nodetoolArgv,
          dataDirs: [node.dataDir],
          commitlogDir: node.commitlogDir,
          hintsDir: node.hintsDir,
          jmx: { host: '127.0.0.1', port: node.jmxPort },
        });
        agents.push(await startAgentServer(ops, { host: '127.0.0.1', port: 0, token: TOKEN }));
      }
    } catch (error) {
      await Promise.allSettled(agents.map((a) => a.close()));
      await cluster.destroy();
      await rm(secrets, { recursive: true, force: true });
      throw error;
    }
    let stops = 0;
    const agentUrls = agents.map((a) => a.url);
    return {
      async create(dir) {
        await wholeRing(cluster);
        await withCql(cluster, async (cql) => {
          for (const ks of LIVE_KEYSPACES) await cql.client.execute(`DROP KEYSPACE IF EXISTS "${ks}"`);
        });
        // The trial creates these keyspaces again at once: every node must have seen the drop first.
        await waitForSchemaAgreement(cluster.nodes[0]!, cluster.nodes.length);
        const connection = cluster.connection();
        const proxies = new Map<string, TcpProxy>();
        const member = async (name: string, namespaces: string[]): Promise<MemberSpec> => {
          const first = new URL(agentUrls[0]!);
          const proxy = await startTcpProxy({
            upstreamHost: first.hostname,
            upstreamPort: Number(first.port),
          });
          proxies.set(name, proxy);
          const urls = [`http://127.0.0.1:${proxy.port}`, ...agentUrls.slice(1)];
          const options = { agents: urls.map((url) => ({ url, tokenFile })) };
          return { name, engine: 'cassandra', connection, namespaces, options };
        };
        const members = [await member('ca', ['bank_a']), await member('cb', ['bank_b', 'coordinator'])];
        return {
          kind: 'cassandra',
          dir,
          group: {
            storages: { ca: connection, cb: connection },
            namespaces: { bank_a: 'ca', bank_b: 'cb', coordinator: 'cb' },
          },
          members,
          proxies,
          async stopServer() {
            const node = cluster.nodes[stops++ % cluster.nodes.length]!;
            await node.stop();
            return async () => {
              await node.start();
              await wholeRing(cluster);
            };
          },
          async close() {
            for (const proxy of proxies.values()) await proxy.close();
          },
        };
      },
      restoreTarget(member, _into, random) {
        return { suffix: restoredName(member, random) };
      },
      async releaseRestored() {
        await withCql(cluster, async (cql) => {
          const rs = await cql.client.execute('SELECT keyspace_name FROM system_schema.keyspaces');
          for (const row of rs.rows) {
            const ks = String(row.get('keyspace_name'));
            if (RESTORED.test(ks)) await cql.client.execute(`DROP KEYSPACE IF EXISTS "${ks}"`);
          }
        });
      },
      async stop() {
        await Promise.allSettled(agents.map((a) => a.close()));
        await cluster.destroy();
        await rm(secrets, { recursive: true, force: true });
      },
    };
  },
};

/** Every node running and seen up and normal by the first (a fault may have stopped or restarted one). */
async function wholeRing(cluster: LocalCassandra): Promise<void> {
  for (const node of cluster.nodes) await node.start();
  await waitForRing(cluster.nodes[0]!, cluster.nodes.length);
}

async function withCql(cluster: LocalCassandra, fn: (cql: CassandraStorage) => Promise<void>): Promise<void> {
  const cql = (await createStorage('trial-admin', cluster.connection())) as CassandraStorage;
  try {
    await fn(cql);
  } finally {
    await cql.close();
  }
}
