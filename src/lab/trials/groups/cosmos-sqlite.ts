/**
 * The `cosmos+sqlite` trial group: bank_b and the Coordinator on Cosmos DB (a real cosmosdb-server per
 * account behind the ARM management fake; a time handle), bank_a on SQLite (a snapshot). The management
 * fake starts once per campaign; each trial gets a NEW account and a fresh SQLite file. A restore goes into
 * another new account (Cosmos DB restores only there) and a new file. The product reaches ARM through its
 * real DefaultAzureCredential, answered by the fake Azure CLI (./az-cli-fake.ts).
 */
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MemberSpec } from '../../../engines/contract.ts';
import { InternalError } from '../../../errors.ts';
import { startCosmosManagementFake } from '../../fakes/cosmos-management-fake.ts';
import type { StorageConfig } from '../../../txn/contract.ts';
import type { TrialGroupKind, TrialGroupServers } from '../group.ts';
import { installAzCliFake } from './az-cli-fake.ts';
import { restoredName, restoreTarget } from './targets.ts';

export const cosmosSqliteGroup: TrialGroupKind = {
  name: 'cosmos+sqlite',
  modes: ['pause-window'],
  async start(): Promise<TrialGroupServers> {
    const fake = await startCosmosManagementFake();
    const token = await fake.credential.getToken('https://management.azure.com/.default');
    const az = await installAzCliFake(token?.token ?? '').catch(async (error: unknown) => {
      await fake.destroy();
      throw error;
    });
    return {
      async create(dir, index) {
        fake.setSkew(0);
        const account = `t${index}-${Date.now().toString(36)}`;
        const { endpoint, caFile, key } = await fake.createAccount(account);
        // A plan never holds a secret inline: the account key goes to a 0600 file.
        const keyFile = join(dir, `${account}.key`);
        await writeFile(keyFile, key, { mode: 0o600 });
        const cosmos: StorageConfig = {
          kind: 'cosmos',
          endpoint,
          caFile,
          passwordFile: keyFile,
          mutations: 'etag',
        };
        const lite: StorageConfig = { kind: 'sqlite', path: join(dir, 'bank_a.db') };
        const members: MemberSpec[] = [
          { name: 'lite', engine: 'sqlite', connection: lite, namespaces: ['bank_a'], options: {} },
          {
            name: 'cos',
            engine: 'cosmos',
            connection: cosmos,
            namespaces: ['bank_b', 'coordinator'],
            options: {
              subscriptionId: fake.subscriptionId,
              resourceGroup: fake.resourceGroup,
              account,
              managementEndpoint: fake.endpoint,
              managementCaFile: fake.caFile,
              pollMs: 50,
              horizonTimeoutMs: 60_000,
            },
          },
        ];
        return {
          kind: 'cosmos+sqlite',
          dir,
          group: {
            storages: { lite, cos: cosmos },
            namespaces: { bank_a: 'lite', bank_b: 'cos', coordinator: 'cos' },
          },
          members,
          proxies: new Map(),
          stopServer: () =>
            Promise.reject(new InternalError('TRIAL_NO_SERVER', 'the cosmos+sqlite group stops no server.')),
          close: () => Promise.resolve(),
        };
      },
      restoreTarget(member, into, random) {
        if (member.engine !== 'cosmos') return restoreTarget(member, into, random);
        const account = restoredName(member, random).replace(/_/g, '-').toLowerCase();
        mkdirSync(into, { recursive: true, mode: 0o700 });
        return { account, keyFile: join(into, `${account}.key`) };
      },
      skewServiceClock: (ms) => fake.setSkew(ms),
      async stop() {
        await az.uninstall().catch(() => undefined);
        await fake.destroy().catch(() => undefined);
      },
    };
  },
};
