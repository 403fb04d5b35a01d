/**
 * The `managed` trial group: an `rds` PostgreSQL member (bank_a + the Coordinator) and an `azure-flexible`
 * MySQL member (bank_b), both behind their control-plane fakes with REAL PITR underneath (WAL / binlog
 * replay). The fakes and their source servers start once per campaign; each trial gets a fresh PostgreSQL
 * database and drops the fixed MySQL databases an earlier trial left. A restore creates a NEW instance and
 * a NEW server (released after the trial). Both service clocks can be skewed.
 */
import type { MemberSpec } from '../../../engines/contract.ts';
import { InternalError } from '../../../errors.ts';
import { AzureFlexibleFake } from '../../fakes/azure-flexible-fake.ts';
import { RdsControlPlaneFake } from '../../fakes/rds-control-plane-fake.ts';
import { freePort } from '../../local-servers/process.ts';
import type { TrialGroupKind, TrialGroupServers } from '../group.ts';
import { restoredName } from './targets.ts';

const SUBSCRIPTION = '00000000-0000-4000-8000-000000000001';
const RESOURCE_GROUP = 'rg-1';

export const managedGroup: TrialGroupKind = {
  name: 'managed',
  modes: ['pause-window'],
  async start(): Promise<TrialGroupServers> {
    const rds = await RdsControlPlaneFake.start({ lagMs: 300 });
    let azure: AzureFlexibleFake | undefined;
    try {
      azure = await AzureFlexibleFake.start({ serverPort: await freePort() });
      const pg = await rds.createPostgresInstance({
        id: 'bank-pg',
        parameterGroup: 'pg15',
        subnetGroup: 'db-private',
        securityGroupIds: ['sg-1'],
      });
      const maria = await azure.createMySqlServer({
        subscriptionId: SUBSCRIPTION,
        resourceGroup: RESOURCE_GROUP,
        name: 'bank-mysql',
      });
      const az = azure;
      const restored: Array<{ engine: string; name: string }> = [];
      return {
        async create(dir, index) {
          rds.skewMs = 0;
          az.skewMs = 0;
          const database = `t${index}_${Date.now().toString(36)}`;
          await pg.server.createDatabase(database);
          for (const ns of ['bank_b', 'coordinator', 'bank_a'])
            await maria.query(`DROP DATABASE IF EXISTS \`${ns}\``);
          const members: MemberSpec[] = [
            {
              name: 'pg',
              engine: 'rds',
              connection: pg.server.connection(database),
              namespaces: ['bank_a', 'coordinator'],
              options: {
                region: 'eu-west-1',
                endpoint: rds.endpoint,
                dummyCredentials: true,
                instance: 'bank-pg',
                pollMs: 50,
              },
            },
            {
              name: 'maria',
              engine: 'azure-flexible',
              connection: maria.connection(),
              namespaces: ['bank_b'],
              options: {
                subscriptionId: SUBSCRIPTION,
                resourceGroup: RESOURCE_GROUP,
                server: 'bank-mysql',
                endpoint: az.endpoint,
                caFile: az.caFile,
                dummyCredentials: true,
                port: az.serverPort,
                pollMs: 50,
                horizonLagMs: 200,
              },
            },
          ];
          return {
            kind: 'managed',
            dir,
            group: {
              storages: { pg: pg.server.connection(database), maria: maria.connection() },
              namespaces: { bank_a: 'pg', coordinator: 'pg', bank_b: 'maria' },
            },
            members,
            proxies: new Map(),
            stopServer: () =>
              Promise.reject(
                new InternalError(
                  'TRIAL_NO_SERVER',
                  'the managed group stops no server (its fakes own them).',
                ),
              ),
            close: () => Promise.resolve(),
          };
        },
        restoreTarget(member, _into, random) {
          const name = restoredName(member, random).replace(/_/g, '-').toLowerCase();
          restored.push({ engine: member.engine, name });
          return member.engine === 'rds' ? { instance: `r-${name}` } : { server: `r-${name}` };
        },
        skewServiceClock: (ms) => {
          rds.skewMs = ms;
          az.skewMs = ms;
        },
        async releaseRestored() {
          for (const r of restored.splice(0)) {
            if (r.engine === 'rds')
              await rds
                .server(`r-${r.name}`)
                ?.destroy()
                .catch(() => undefined);
            else
              await az
                .server(`r-${r.name}`)
                ?.destroy()
                .catch(() => undefined);
          }
        },
        async stop() {
          await az.destroy().catch(() => undefined);
          await rds.destroy().catch(() => undefined);
        },
      };
    } catch (error) {
      await azure?.destroy().catch(() => undefined);
      await rds.destroy().catch(() => undefined);
      throw error;
    }
  },
};
