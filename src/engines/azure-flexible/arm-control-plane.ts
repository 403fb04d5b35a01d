/**
 * {@link FlexibleControlPlane} over the real Azure Resource Manager clients: @azure/arm-mysql-flexible for
 * MySQL flexible servers, @azure/arm-postgresql-flexible for PostgreSQL ones, credentials from
 * DefaultAzureCredential (@azure/identity) unless `dummyCredentials` (local endpoints only).
 */
import { readFileSync } from 'node:fs';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { MySQLManagementFlexibleServerClient } from '@azure/arm-mysql-flexible';
import { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';
import { EngineError } from '../../errors.ts';
import type { FlexibleControlPlane, FlexibleRestoreRequest, FlexibleServer } from './control-plane.ts';
import type { AzureFlexibleOptions } from './options.ts';

const staticToken: TokenCredential = {
  getToken: () => Promise.resolve({ token: 'stillpoint-local', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

const isNotFound = (error: unknown): boolean => (error as { statusCode?: number }).statusCode === 404;

/** The fields both flavours share, read from either SDK's Server model. */
interface ServerLike {
  name?: string;
  id?: string;
  location: string;
  state?: string;
  fullyQualifiedDomainName?: string;
  backup?: { backupRetentionDays?: number; earliestRestoreDate?: Date };
  sku?: { name: string; tier: string };
  tags?: Record<string, string>;
}

function serverOf(
  s: ServerLike,
  subnetId: string | undefined,
  dnsZoneId: string | undefined,
): FlexibleServer {
  return {
    name: s.name ?? '',
    id: s.id ?? '',
    state: s.state ?? 'Unknown',
    location: s.location,
    ...(s.fullyQualifiedDomainName === undefined ? {} : { host: s.fullyQualifiedDomainName }),
    backupRetentionDays: s.backup?.backupRetentionDays ?? 0,
    ...(s.backup?.earliestRestoreDate === undefined
      ? {}
      : { earliestRestorableMs: s.backup.earliestRestoreDate.getTime() }),
    ...(s.sku === undefined ? {} : { sku: { name: s.sku.name, tier: s.sku.tier } }),
    ...(subnetId === undefined ? {} : { subnetId }),
    ...(dnsZoneId === undefined ? {} : { privateDnsZoneId: dnsZoneId }),
    tags: s.tags ?? {},
  };
}

export class ArmFlexibleControlPlane implements FlexibleControlPlane {
  private readonly mysql: MySQLManagementFlexibleServerClient | undefined;
  private readonly postgres: PostgreSQLManagementFlexibleServerClient | undefined;

  constructor(
    flavor: 'mysql' | 'postgres',
    private readonly options: AzureFlexibleOptions,
  ) {
    const credential = options.dummyCredentials ? staticToken : new DefaultAzureCredential();
    const clientOptions = {
      ...(options.endpoint === undefined
        ? {}
        : { endpoint: options.endpoint, credentialScopes: [`${options.endpoint}/.default`] }),
      ...(options.caFile === undefined ? {} : { tlsOptions: { ca: readFileSync(options.caFile, 'utf8') } }),
    };
    if (flavor === 'mysql')
      this.mysql = new MySQLManagementFlexibleServerClient(credential, options.subscriptionId, clientOptions);
    else
      this.postgres = new PostgreSQLManagementFlexibleServerClient(
        credential,
        options.subscriptionId,
        clientOptions,
      );
  }

  async getServer(
    name: string,
    onDate?: (date: string | undefined) => void,
  ): Promise<FlexibleServer | undefined> {
    const onResponse = (raw: { headers: { get(name: string): string | undefined } }) =>
      onDate?.(raw.headers.get('date'));
    try {
      if (this.mysql !== undefined) {
        const s = await this.mysql.servers.get(this.options.resourceGroup, name, { onResponse });
        return serverOf(s, s.network?.delegatedSubnetResourceId, s.network?.privateDnsZoneResourceId);
      }
      const s = await (this.postgres as PostgreSQLManagementFlexibleServerClient).servers.get(
        this.options.resourceGroup,
        name,
        { onResponse },
      );
      return serverOf(s, s.network?.delegatedSubnetResourceId, s.network?.privateDnsZoneArmResourceId);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async restoreServer(r: FlexibleRestoreRequest): Promise<void> {
    const common = {
      location: r.source.location,
      tags: { ...r.tags },
      ...(r.source.sku === undefined ? {} : { sku: r.source.sku }),
      createMode: 'PointInTimeRestore',
      sourceServerResourceId: r.source.id,
    };
    if (this.mysql !== undefined) {
      // The poller is not kept: the session waits by reading the server, so a re-run can resume the wait.
      await this.mysql.servers.beginCreate(this.options.resourceGroup, r.target, {
        ...common,
        sku: { name: r.source.sku?.name ?? 'Standard_B1ms', tier: r.source.sku?.tier ?? 'Burstable' },
        restorePointInTime: new Date(r.atMs),
        ...(r.source.subnetId === undefined
          ? {}
          : {
              network: {
                delegatedSubnetResourceId: r.source.subnetId,
                ...(r.source.privateDnsZoneId === undefined
                  ? {}
                  : { privateDnsZoneResourceId: r.source.privateDnsZoneId }),
              },
            }),
      });
      return;
    }
    await (this.postgres as PostgreSQLManagementFlexibleServerClient).servers.beginCreateOrUpdate(
      this.options.resourceGroup,
      r.target,
      {
        ...common,
        sku: { name: r.source.sku?.name ?? 'Standard_B1ms', tier: r.source.sku?.tier ?? 'Burstable' },
        pointInTimeUTC: new Date(r.atMs),
        ...(r.source.subnetId === undefined
          ? {}
          : {
              network: {
                delegatedSubnetResourceId: r.source.subnetId,
                ...(r.source.privateDnsZoneId === undefined
                  ? {}
                  : { privateDnsZoneArmResourceId: r.source.privateDnsZoneId }),
              },
            }),
      },
    );
  }

  async serviceTime(): Promise<{ nowMs: number; resolutionMs: number }> {
    let date: string | undefined;
    await this.getServer(this.options.server, (d) => (date = d));
    const nowMs = Date.parse(date ?? '');
    if (!Number.isFinite(nowMs))
      throw new EngineError(
        'CLOCK_UNMEASURABLE',
        'Azure Resource Manager answered without a usable Date header.',
        {
          hint: 'Check the endpoint option: it must be ARM or a compatible server.',
        },
      );
    return { nowMs, resolutionMs: 1_000 };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
