/**
 * Cassandra engine on a real Cassandra 5.0 node with a real agent: bytes uploaded by a second backup after
 * ~1 % of rows changed, as a share of the first backup's (differential upload of immutable SSTables), and the
 * capture time inside the pause (one call over the agent's long-lived JMX helper).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeOps } from '../src/agent/node-ops.ts';
import { startAgentServer } from '../src/agent/server.ts';
import { createLocalDirStore } from '../src/artifacts/local-dir-store.ts';
import { resolveMember } from '../src/engines/registry.ts';
import type { MemberSpec } from '../src/engines/contract.ts';
import { cassandraUnavailable, startLocalCassandra } from '../src/lab/local-servers/cassandra-server.ts';
import { createStorage } from '../src/txn/storages/index.ts';
import type { Benchmark, BenchRow } from './contract.ts';

const never = new AbortController().signal;
const log = { info: () => {}, warn: () => {} };

async function run({ quick }: { readonly quick: boolean }): Promise<readonly BenchRow[]> {
  const why = cassandraUnavailable();
  if (why !== undefined) return [{ metric: 'cassandra', value: 'skipped', goal: '—', note: why }];
  const rows = quick ? 2_000 : 10_000;
  const server = await startLocalCassandra();
  const node = server.nodes[0]!;
  const agent = await startAgentServer(
    new NodeOps({
      nodetool: node.nodetoolArgv,
      dataDirs: [node.dataDir],
      jmx: { host: '127.0.0.1', port: node.jmxPort },
    }),
    {
      host: '127.0.0.1',
      port: 0,
    },
  );
  const root = await mkdtemp(join(tmpdir(), 'stillpoint-bench-cass-'));
  const store = createLocalDirStore(root);
  const storage = await createStorage('cass', server.connection());
  try {
    const T = { namespace: 'bench_bank', table: 'accounts' };
    await storage.createTable({
      ...T,
      partitionKey: ['id'],
      clusteringKey: [],
      columns: { id: 'INT', note: 'TEXT' },
    });
    const put = (id: number, note: string) => ({
      kind: 'put' as const,
      table: T,
      key: { id },
      values: { note },
    });
    for (let i = 0; i < rows; i += 500) {
      await storage.mutate(
        Array.from({ length: Math.min(500, rows - i) }, (_, j) =>
          put(i + j, randomBytes(450).toString('hex')),
        ),
      );
    }
    const member: MemberSpec = {
      name: 'cass',
      engine: 'cassandra',
      connection: server.connection(),
      namespaces: ['bench_bank'],
      options: { agents: [{ url: agent.url }] },
    };
    const backup = async (id: string) => {
      const { kind, options } = resolveMember(member);
      const s = kind.openBackup(
        {
          backupId: id,
          member,
          artifacts: store,
          artifactPrefix: `${id}/cass/`,
          sharedPrefix: 'shared/cass/',
          log,
        },
        options,
      );
      try {
        await s.prepare(never);
        const t = performance.now();
        await s.capture(never);
        const captureMs = performance.now() - t;
        const f = await s.finish({ pausedAtMs: 0, unpauseStartedAtMs: 0, midMs: 0 }, never);
        return { captureMs, uploaded: (f.detail as { uploadedBytes: number }).uploadedBytes };
      } finally {
        await s.close();
      }
    };
    const first = await backup('b1');
    const changed = Math.round(rows / 100);
    await storage.mutate(
      Array.from({ length: changed }, (_, i) => put(i * 97, randomBytes(450).toString('hex'))),
    );
    const second = await backup('b2');
    const ratio = second.uploaded / first.uploaded;
    return [
      {
        metric: 'second backup after 1 % of rows changed: bytes uploaded / first backup',
        value: `${(ratio * 100).toFixed(2)} %`,
        goal: '≤ 5 %',
        met: ratio <= 0.05,
        note: `${first.uploaded} B then ${second.uploaded} B; ${rows} rows, ${changed} changed`,
      },
      {
        metric: 'capture (snapshot inside the pause), 1 node',
        value: `${first.captureMs.toFixed(0)} / ${second.captureMs.toFixed(0)} ms`,
        goal: '≤ 100 ms',
        met: Math.max(first.captureMs, second.captureMs) <= 100,
        note: 'one StorageService call per node over the agent’s long-lived JMX helper; files listed and hashed after the unpause',
      },
    ];
  } finally {
    await storage.close();
    await agent.close();
    await server.destroy();
    await rm(root, { recursive: true, force: true });
  }
}

export const benchmarks: readonly Benchmark[] = [{ name: 'cassandra', run }];
