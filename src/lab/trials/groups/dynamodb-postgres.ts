/**
 * The `dynamodb+postgres` trial group: bank_b and the Coordinator on DynamoDB (the real AWS SDK adapter
 * against the wire-protocol PITR fake over dynalite; a time handle), bank_a on PostgreSQL (a snapshot).
 * dynalite, the fake and PostgreSQL start once per campaign; each trial gets its own table prefix and
 * database. Restores go to a new prefix and a new database. The fake's service clock can be skewed.
 */
import type { MemberSpec } from '../../../engines/contract.ts';
import { DynamoPitrFake } from '../../fakes/dynamodb-pitr-fake.ts';
import { startLocalDynalite } from '../../local-servers/dynalite-server.ts';
import { startLocalPostgres } from '../../local-servers/postgres-server.ts';
import type { StorageConfig } from '../../../txn/contract.ts';
import type { TrialGroupKind, TrialGroupServers } from '../group.ts';
import { startTcpProxy } from '../tcp-proxy.ts';
import { restoredName, restoreTarget } from './targets.ts';

export const dynamodbPostgresGroup: TrialGroupKind = {
  name: 'dynamodb+postgres',
  modes: ['pause-window'],
  async start(): Promise<TrialGroupServers> {
    const [dyn, postgres] = await Promise.all([startLocalDynalite(), startLocalPostgres()]);
    const fake = await DynamoPitrFake.start({
      dataEndpoint: dyn.endpoint,
      region: dyn.region,
      lagMs: 300,
      creatingMs: 50,
    }).catch(async (error: unknown) => {
      await Promise.allSettled([dyn.destroy(), postgres.destroy()]);
      throw error;
    });
    const dynamo = (prefix: string): StorageConfig => ({
      kind: 'dynamodb',
      region: dyn.region,
      endpoint: fake.endpoint,
      dummyCredentials: true,
      prefix,
    });
    return {
      async create(dir, index) {
        // A skew set by the previous trial's fault stays through its restore check; a new trial starts true.
        fake.skewMs = 0;
        const tag = `t${index}${Date.now().toString(36)}`;
        await postgres.createDatabase(tag);
        const pgProxy = await startTcpProxy({ upstreamHost: postgres.host, upstreamPort: postgres.port });
        const pgDirect = postgres.connection(tag);
        const members: MemberSpec[] = [
          {
            name: 'pg',
            engine: 'postgres',
            connection: { ...pgDirect, port: pgProxy.port },
            namespaces: ['bank_a'],
            options: { method: 'logical' },
          },
          {
            name: 'dyn',
            engine: 'dynamodb',
            connection: dynamo(`${tag}_`),
            namespaces: ['bank_b', 'coordinator'],
            options: { enablePitr: true, pollMs: 100, horizonTimeoutMs: 60_000 },
          },
        ];
        return {
          kind: 'dynamodb+postgres',
          dir,
          group: {
            storages: { pg: pgDirect, dyn: dynamo(`${tag}_`) },
            namespaces: { bank_a: 'pg', bank_b: 'dyn', coordinator: 'dyn' },
          },
          members,
          proxies: new Map([['pg', pgProxy]]),
          async stopServer() {
            await postgres.stop('immediate');
            return () => postgres.start();
          },
          close: () => pgProxy.close(),
        };
      },
      restoreTarget(member, into, random) {
        if (member.engine !== 'dynamodb') return restoreTarget(member, into, random);
        return { prefix: `${restoredName(member, random)}_` };
      },
      skewServiceClock: (ms) => void (fake.skewMs = ms),
      async stop() {
        await fake.destroy().catch(() => undefined);
        await Promise.allSettled([dyn.destroy(), postgres.destroy()]);
      },
    };
  },
};
