/**
 * Backup of a Cosmos DB member by continuous backup (point-in-time restore). Nothing is copied: the restore
 * point is a time in the service's clock (the window's mid-time plus the measured offset, as for DynamoDB).
 * Preflight checks the account has continuous backup and STRONG consistency (ScalarDB needs it). `finish`
 * records a manifest (account, containers, their stored procedures with bodies) because a restored
 * account comes back without STRONG and without stored procedures. The backup is complete only once every
 * container's latest restorable time has passed the restore time (`horizon`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../../../errors.ts';
import { windowTimeHandle } from '../../time-handle.ts';
import type {
  BackupSession,
  BackupSessionContext,
  CaptureResult,
  ClockSample,
  EngineCapabilities,
  FinishedMember,
  FinishWindow,
  PreflightCheck,
  RestoreHandle,
} from '../../contract.ts';
import type { CosmosAccount, CosmosControlPlane, StoredProcedure } from '../control-plane.ts';
import type { CosmosOptions } from '../options.ts';

export const COSMOS_CAPABILITIES: EngineCapabilities = Object.freeze({
  atomicCapture: false,
  snapshotInsidePause: false,
  clockBased: true,
  horizonWait: true,
});

export const MANIFEST_FILE = 'cosmos-manifest.json';

export interface CosmosManifest {
  readonly account: string;
  readonly location: string;
  readonly containers: readonly {
    readonly database: string;
    readonly container: string;
    readonly storedProcedures: readonly StoredProcedure[];
  }[];
}

/** The databases of a member: one per namespace, plus ScalarDB's catalog (`scalardb`). */
export function memberDatabases(member: BackupSessionContext['member']): string[] {
  const prefix = member.connection.kind === 'cosmos' ? (member.connection.prefix ?? '') : '';
  return [...new Set([...member.namespaces, 'scalardb'])].map((ns) => `${prefix}${ns}`);
}

export class CosmosPitrBackupSession implements BackupSession {
  readonly capabilities = COSMOS_CAPABILITIES;
  private account: CosmosAccount | undefined;
  private captured: CaptureResult | undefined;
  private manifest: CosmosManifest | undefined;

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: CosmosOptions,
    private readonly cp: CosmosControlPlane,
  ) {}

  async preflight(): Promise<readonly PreflightCheck[]> {
    const name = this.options.account;
    try {
      this.account = await this.cp.getAccount(name);
    } catch (error) {
      return [
        {
          name: 'cosmos management reachable',
          ok: false,
          detail: String((error as Error).message),
          hint: 'Check the subscription, resource group, the Azure credentials and their roles.',
        },
      ];
    }
    if (this.account === undefined)
      return [
        {
          name: `cosmos account ${name}`,
          ok: false,
          detail: `account ${name} not found in resource group ${this.options.resourceGroup}`,
          hint: 'Check the member options account / resourceGroup / subscriptionId.',
        },
      ];
    const continuous = this.account.backupPolicy === 'Continuous';
    const strong = this.account.defaultConsistency.toLowerCase() === 'strong';
    return [
      continuous
        ? {
            name: `continuous backup ${name}`,
            ok: true,
            detail: 'continuous backup (point-in-time restore) on',
          }
        : {
            name: `continuous backup ${name}`,
            ok: false,
            detail: `backup policy is ${this.account.backupPolicy}`,
            hint: `Migrate the account to continuous backup: az cosmosdb update -n ${name} -g ${this.options.resourceGroup} --backup-policy-type Continuous.`,
          },
      strong
        ? { name: `consistency ${name}`, ok: true, detail: 'default consistency STRONG' }
        : {
            name: `consistency ${name}`,
            ok: false,
            detail: `default consistency is ${this.account.defaultConsistency}`,
            hint: `ScalarDB needs STRONG: az cosmosdb update -n ${name} -g ${this.options.resourceGroup} --default-consistency-level Strong.`,
          },
    ];
  }

  /** Lists containers and their stored procedures before the pause (the manifest needs them). */
  async prepare(): Promise<void> {
    const account = this.options.account;
    const containers: CosmosManifest['containers'][number][] = [];
    for (const database of memberDatabases(this.ctx.member))
      for (const container of await this.cp.listContainers(account, database))
        containers.push({
          database,
          container,
          storedProcedures: await this.cp.listStoredProcedures(account, database, container),
        });
    this.manifest = { account, location: this.account?.location ?? '', containers };
  }

  /** Service clock minus ours from one round trip: uncertainty = half the round trip + the clock's resolution. */
  async measureClock(): Promise<ClockSample> {
    const sent = Date.now();
    const { nowMs, resolutionMs } = await this.cp.serviceTime();
    const received = Date.now();
    const rttMs = received - sent;
    return {
      offsetMs: Math.round(nowMs + resolutionMs / 2 - (sent + received) / 2),
      uncertaintyMs: Math.ceil(rttMs / 2 + resolutionMs),
      rttMs,
    };
  }

  capture(): Promise<CaptureResult> {
    this.captured = { handle: null, capturedAtMs: Date.now() };
    return Promise.resolve(this.captured);
  }

  async finish(window: FinishWindow): Promise<FinishedMember> {
    const member = this.ctx.member.name;
    if (this.captured === undefined || this.manifest === undefined)
      throw new EngineError('CAPTURE_MISSING', 'finish was called without prepare and capture.', {
        context: { member },
      });
    const handle = windowTimeHandle(window, 'Cosmos DB', this.ctx.member.name);
    const ref = await this.ctx.artifacts.put(
      `${this.ctx.artifactPrefix}${MANIFEST_FILE}`,
      JSON.stringify(this.manifest, null, 2),
    );
    return {
      handle,
      artifacts: [ref],
      bytes: ref.bytes,
      detail: { containers: this.manifest.containers.length },
    };
  }

  discard(): Promise<void> {
    this.captured = undefined;
    return Promise.resolve();
  }

  /** Complete only when every container's latest restorable time has passed the restore time. */
  async horizon(handle: RestoreHandle, signal: AbortSignal): Promise<void> {
    const member = this.ctx.member.name;
    if (handle.kind !== 'time')
      throw new EngineError('HANDLE_KIND', `A Cosmos DB backup has a time handle, not ${handle.kind}.`, {
        context: { member },
      });
    if (this.manifest === undefined) await this.prepare(); // a new session after a restart
    const deadline = Date.now() + this.options.horizonTimeoutMs;
    for (const c of this.manifest?.containers ?? []) {
      while (
        (await this.cp.latestRestorableMs(this.options.account, c.database, c.container)) < handle.atMs
      ) {
        if (Date.now() > deadline)
          throw new EngineError(
            'HORIZON_TIMEOUT',
            `Container ${c.database}/${c.container}: the latest restorable time did not pass ${new Date(handle.atMs).toISOString()} in ${this.options.horizonTimeoutMs} ms.`,
            { hint: 'Raise horizonTimeoutMs if the service trails more.', context: { member } },
          );
        await sleep(this.options.pollMs, undefined, { signal });
      }
    }
  }

  async close(): Promise<void> {
    await this.cp.close().catch(() => undefined);
  }
}
