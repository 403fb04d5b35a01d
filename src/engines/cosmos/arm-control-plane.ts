/**
 * {@link CosmosControlPlane} over Azure Resource Manager with @azure/arm-cosmosdb. Credentials: a given
 * TokenCredential, else DefaultAzureCredential (environment, workload identity, managed identity, az CLI).
 * `endpoint` and `caFile` point it at another ARM endpoint (the lab's fake); the CA is trusted for this
 * client only.
 */
import { CosmosDBManagementClient, type DatabaseAccountGetResults } from '@azure/arm-cosmosdb';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { readFileSync } from 'node:fs';
import { EngineError } from '../../errors.ts';
import type { CosmosAccount, CosmosControlPlane, StoredProcedure } from './control-plane.ts';

export interface ArmSettings {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** ARM endpoint; https://management.azure.com when absent. */
  readonly endpoint?: string;
  readonly caFile?: string;
  readonly credential?: TokenCredential;
}

export class ArmCosmosControlPlane implements CosmosControlPlane {
  private readonly client: CosmosDBManagementClient;
  private readonly rg: string;

  constructor(private readonly settings: ArmSettings) {
    this.rg = settings.resourceGroup;
    const ca = settings.caFile === undefined ? undefined : readFileSync(settings.caFile, 'utf8');
    this.client = new CosmosDBManagementClient(
      settings.credential ?? new DefaultAzureCredential(),
      settings.subscriptionId,
      {
        ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
        ...(ca === undefined ? {} : { tlsOptions: { ca } }),
        // The lab's fake polls fast; Azure tells the SDK its own Retry-After.
        retryOptions: { maxRetries: 3 },
      },
    );
  }

  async getAccount(account: string): Promise<CosmosAccount | undefined> {
    try {
      return toAccount(await this.client.databaseAccounts.get(this.rg, account));
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.error(`read account ${account}`, error);
    }
  }

  async listContainers(account: string, database: string): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const c of this.client.sqlResources.listSqlContainers(this.rg, account, database))
        if (c.name !== undefined) out.push(c.name);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return [];
      throw this.error(`list containers of ${account}/${database}`, error);
    }
    return out;
  }

  async listStoredProcedures(
    account: string,
    database: string,
    container: string,
  ): Promise<StoredProcedure[]> {
    const out: StoredProcedure[] = [];
    try {
      for await (const sp of this.client.sqlResources.listSqlStoredProcedures(
        this.rg,
        account,
        database,
        container,
      ))
        if (sp.resource?.id !== undefined) out.push({ id: sp.resource.id, body: sp.resource.body ?? '' });
    } catch (error) {
      throw this.error(`list stored procedures of ${account}/${database}/${container}`, error);
    }
    return out;
  }

  async putStoredProcedure(
    account: string,
    database: string,
    container: string,
    sp: StoredProcedure,
  ): Promise<void> {
    try {
      await this.client.sqlResources.beginCreateUpdateSqlStoredProcedureAndWait(
        this.rg,
        account,
        database,
        container,
        sp.id,
        { resource: { id: sp.id, body: sp.body }, options: {} },
      );
    } catch (error) {
      throw this.error(`create stored procedure ${sp.id} in ${account}/${database}/${container}`, error);
    }
  }

  async latestRestorableMs(account: string, database: string, container: string): Promise<number> {
    const source = await this.getAccount(account);
    try {
      const out = await this.client.sqlResources.beginRetrieveContinuousBackupInformationAndWait(
        this.rg,
        account,
        database,
        container,
        { location: source?.location ?? '' },
      );
      const latest = out.continuousBackupInformation?.latestRestorableTimestamp;
      return latest === undefined ? -Infinity : Date.parse(latest);
    } catch (error) {
      throw this.error(`read the latest restorable time of ${account}/${database}/${container}`, error);
    }
  }

  async oldestRestorableMs(source: CosmosAccount): Promise<number | undefined> {
    if (source.instanceId === undefined) return undefined;
    try {
      const r = await this.client.restorableDatabaseAccounts.getByLocation(
        source.location,
        source.instanceId,
      );
      return r.oldestRestorableTime?.getTime() ?? r.creationTime?.getTime();
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.error(`read the restorable account ${source.name}`, error);
    }
  }

  async restoreAccount(source: CosmosAccount, target: string, atMs: number): Promise<CosmosAccount> {
    try {
      // Start the long-running operation only: the engine polls the account with its own deadline.
      await this.client.databaseAccounts.beginCreateOrUpdate(this.rg, target, {
        location: source.location,
        locations: [{ locationName: source.location, failoverPriority: 0 }],
        databaseAccountOfferType: 'Standard',
        createMode: 'Restore',
        backupPolicy: { type: 'Continuous' },
        restoreParameters: {
          restoreMode: 'PointInTime',
          restoreSource: `/subscriptions/${this.settings.subscriptionId}/providers/Microsoft.DocumentDB/locations/${source.location}/restorableDatabaseAccounts/${source.instanceId ?? ''}`,
          restoreTimestampInUtc: new Date(atMs),
        },
      });
      const created = await this.getAccount(target);
      if (created === undefined)
        throw new Error(`account ${target} does not exist after the restore request`);
      return created;
    } catch (error) {
      throw this.error(`restore ${source.name} into ${target}`, error);
    }
  }

  async setStrongConsistency(account: string): Promise<void> {
    try {
      await this.client.databaseAccounts.beginUpdateAndWait(this.rg, account, {
        consistencyPolicy: { defaultConsistencyLevel: 'Strong' },
      });
    } catch (error) {
      throw this.error(`set STRONG consistency on ${account}`, error);
    }
  }

  async primaryKey(account: string): Promise<string> {
    try {
      return (await this.client.databaseAccounts.listKeys(this.rg, account)).primaryMasterKey ?? '';
    } catch (error) {
      throw this.error(`read the keys of ${account}`, error);
    }
  }

  /** The `Date` header of a cheap ARM read (1 s resolution). */
  async serviceTime(): Promise<{ nowMs: number; resolutionMs: number }> {
    let date: string | undefined;
    try {
      for await (const _ of this.client.databaseAccounts.listByResourceGroup(this.rg, {
        onResponse: (raw) => {
          date = raw.headers.get('date');
        },
      }))
        break;
    } catch (error) {
      throw this.error('read the service clock', error);
    }
    const nowMs = Date.parse(date ?? '');
    if (!Number.isFinite(nowMs))
      throw new EngineError(
        'COSMOS_MANAGEMENT_FAILED',
        'Azure Resource Manager answered without a Date header.',
        {
          hint: 'Check the management endpoint.',
        },
      );
    return { nowMs, resolutionMs: 1000 };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private error(what: string, error: unknown): EngineError {
    const status = (error as { statusCode?: number }).statusCode;
    return new EngineError(
      'COSMOS_MANAGEMENT_FAILED',
      `Cannot ${what}: ${String((error as Error).message)}`,
      {
        hint:
          status === 401 || status === 403
            ? 'The identity needs the Cosmos DB roles listed in docs/backup-and-restore.md (Cosmos DB section).'
            : 'Check the subscription, resource group and account names, and the management endpoint.',
        context: { status: status ?? 'none' },
        cause: error,
      },
    );
  }
}

function toAccount(r: DatabaseAccountGetResults): CosmosAccount {
  return {
    name: r.name ?? '',
    documentEndpoint: r.documentEndpoint ?? '',
    location: r.location ?? r.locations?.[0]?.locationName ?? '',
    backupPolicy: r.backupPolicy?.type ?? 'Periodic',
    defaultConsistency: r.consistencyPolicy?.defaultConsistencyLevel ?? 'Session',
    provisioningState: r.provisioningState ?? '',
    ...(r.instanceId === undefined ? {} : { instanceId: r.instanceId }),
  };
}
