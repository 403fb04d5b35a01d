/**
 * The DynamoDB pair of the engine contract suite: the built-in `dynamodb` kind — its real AWS SDK adapter —
 * with the member's connection endpoint pointed at the wire-protocol PITR fake over a real dynalite (the
 * control plane is chosen through the connection, not a global). The fake's clock is skewed by 1.5 s so
 * the suite's measured window matters. Each case gets its own table prefix.
 */
import { startTcpProxy } from '../../../src/lab/trials/tcp-proxy.ts';
import { DynamoPitrFake } from '../../../src/lab/fakes/dynamodb-pitr-fake.ts';
import { startLocalDynalite } from '../../../src/lab/local-servers/dynalite-server.ts';
import type { MemberSpec } from '../../../src/engines/contract.ts';
import type { StorageConfig } from '../../../src/txn/contract.ts';
import { createStorage } from '../../../src/txn/storages/index.ts';
import type { EnginePair, PairFixture } from '../engine-contract.ts';
import { tempDirStore } from '../support.ts';

const TABLE = { namespace: 'bank_a', table: 't' };
const SEED_ROWS = 20;

export const dynamodbPair: EnginePair = {
  label: 'dynamodb pitr (AWS SDK adapter → wire-protocol fake → dynalite)',
  async setup(): Promise<PairFixture> {
    const store = await tempDirStore();
    const dyn = await startLocalDynalite();
    const fake = await DynamoPitrFake.start({
      dataEndpoint: dyn.endpoint,
      region: dyn.region,
      skewMs: 1_500,
      lagMs: 300,
      creatingMs: 50,
    });
    const connection = (prefix: string, endpoint = fake.endpoint): StorageConfig => ({
      kind: 'dynamodb',
      region: dyn.region,
      endpoint,
      dummyCredentials: true,
      prefix,
    });
    const memberOf = (prefix: string, endpoint?: string): MemberSpec => ({
      name: 'dyn',
      engine: 'dynamodb',
      connection: connection(prefix, endpoint),
      namespaces: [TABLE.namespace],
      options: { enablePitr: true, pollMs: 50 },
    });
    const seed = async (prefix: string, from = 0, rows = SEED_ROWS): Promise<void> => {
      const s = await createStorage('seed', connection(prefix));
      try {
        if (from === 0)
          await s.createTable({
            ...TABLE,
            partitionKey: ['id'],
            clusteringKey: [],
            columns: { id: 'BIGINT', v: 'TEXT' },
          });
        await s.mutate(
          Array.from({ length: rows }, (_, i) => ({
            kind: 'put' as const,
            table: TABLE,
            key: { id: from + i },
            values: { v: `v${from + i}` },
          })),
        );
      } finally {
        await s.close();
      }
    };
    return {
      store,
      async member(caseId) {
        await seed(`${caseId}_`);
        return memberOf(`${caseId}_`);
      },
      async writeMore(member) {
        const prefix = member.connection.kind === 'dynamodb' ? (member.connection.prefix ?? '') : '';
        await seed(prefix, 1_000, 1);
      },
      async rows(c) {
        const s = await createStorage('rows', c);
        try {
          const out: unknown[] = [];
          for await (const row of s.scanAll(TABLE)) out.push(row);
          return out.sort((a, b) => Number((a as { id: number }).id) - Number((b as { id: number }).id));
        } finally {
          await s.close();
        }
      },
      target: (caseId) => Promise.resolve({ prefix: `${caseId}copy_` }),
      async foreignTarget(caseId) {
        await seed(`${caseId}foreign_`);
        return { prefix: `${caseId}foreign_` };
      },
      async deadPath(caseId) {
        await seed(`${caseId}_`);
        const url = new URL(fake.endpoint);
        const proxy = await startTcpProxy({ upstreamHost: url.hostname, upstreamPort: Number(url.port) });
        return {
          member: memberOf(`${caseId}_`, `http://127.0.0.1:${proxy.port}`),
          silence: () => proxy.setMode({ kind: 'drop' }),
          close: () => proxy.close(),
        };
      },
      async teardown() {
        await fake.destroy();
        await dyn.destroy();
        await store.destroy();
      },
    };
  },
};
