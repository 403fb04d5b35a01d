/**
 * Backup of an `azure-flexible` member by the service's point-in-time restore. Nothing is copied: the
 * restore point is the window's mid-time in the ARM clock. Preflight checks the server exists, is Ready
 * and keeps backups at least `minRetentionDays`; finish stores the source server (location, SKU, VNet
 * subnet and DNS zone, tags) as a manifest, for the restore to re-create. Azure restores up to "now" but
 * ships logs in batches, so `horizon` waits until the service clock is `horizonLagMs` past the restore time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../../../errors.ts';
import { windowTimeHandle } from '../../time-handle.ts';
import type {
  BackupSession,
  BackupSessionContext,
  CaptureResult,
  ClockSample,
  FinishedMember,
  FinishWindow,
  PreflightCheck,
  RestoreHandle,
} from '../../contract.ts';
import { MANAGED_CAPABILITIES, measureServiceClock } from '../../managed-restore.ts';
import type { FlexibleControlPlane, FlexibleServer } from '../control-plane.ts';
import type { AzureFlexibleOptions } from '../options.ts';

export const AZURE_MANIFEST_FILE = 'azure-flexible-manifest.json';

export interface AzureFlexibleManifest {
  readonly source: FlexibleServer;
}

export class AzureFlexibleBackupSession implements BackupSession {
  readonly capabilities = MANAGED_CAPABILITIES;
  private source: FlexibleServer | undefined;
  private captured: CaptureResult | undefined;

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: AzureFlexibleOptions,
    private readonly cp: FlexibleControlPlane,
  ) {}

  async preflight(): Promise<readonly PreflightCheck[]> {
    const name = this.options.server;
    try {
      this.source = await this.cp.getServer(name);
    } catch (error) {
      return [
        {
          name: 'azure reachable',
          ok: false,
          detail: (error as Error).message,
          hint: 'Check the subscription, resource group, endpoint and credentials (az login, or a managed identity).',
        },
      ];
    }
    if (this.source === undefined)
      return [
        {
          name: `flexible server ${name}`,
          ok: false,
          detail: `no server ${name} in resource group ${this.options.resourceGroup}`,
          hint: 'Check the member options server and resourceGroup.',
        },
      ];
    const days = this.source.backupRetentionDays;
    return [
      this.source.state === 'Ready'
        ? { name: `flexible server ${name}`, ok: true, detail: `${this.source.location}, Ready` }
        : {
            name: `flexible server ${name}`,
            ok: false,
            detail: `state ${this.source.state}`,
            hint: 'Start the server; a stopped server cannot be backed up.',
          },
      days >= this.options.minRetentionDays
        ? { name: 'azure backups', ok: true, detail: `retention ${days} days` }
        : {
            name: 'azure backups',
            ok: false,
            detail: `retention ${days} days is shorter than the plan's minRetentionDays ${this.options.minRetentionDays}`,
            hint: `Raise it: az ${this.options.port === 5432 ? 'postgres' : 'mysql'} flexible-server update -g ${this.options.resourceGroup} -n ${name} --backup-retention ${this.options.minRetentionDays}.`,
          },
    ];
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  measureClock(): Promise<ClockSample> {
    return measureServiceClock(() => this.cp.serviceTime());
  }

  capture(): Promise<CaptureResult> {
    this.captured = { handle: null, capturedAtMs: Date.now() };
    return Promise.resolve(this.captured);
  }

  async finish(window: FinishWindow): Promise<FinishedMember> {
    if (this.captured === undefined)
      throw new EngineError('CAPTURE_MISSING', 'finish was called without a capture.', {
        context: { member: this.ctx.member.name },
      });
    const source = this.source ?? (await this.cp.getServer(this.options.server));
    if (source === undefined)
      throw new EngineError('RESTORE_FAILED', `Server ${this.options.server} vanished during the backup.`, {
        context: { member: this.ctx.member.name },
      });
    const handle = windowTimeHandle(window, 'Azure', this.ctx.member.name);
    const manifest: AzureFlexibleManifest = { source };
    const ref = await this.ctx.artifacts.put(
      `${this.ctx.artifactPrefix}${AZURE_MANIFEST_FILE}`,
      JSON.stringify(manifest, null, 2),
    );
    return { handle, artifacts: [ref], bytes: ref.bytes, detail: { source: source.id } };
  }

  discard(): Promise<void> {
    this.captured = undefined;
    return Promise.resolve();
  }

  async horizon(handle: RestoreHandle, signal: AbortSignal): Promise<void> {
    if (handle.kind !== 'time')
      throw new EngineError(
        'HANDLE_KIND',
        `An Azure flexible server backup has a time handle, not ${handle.kind}.`,
        { context: { member: this.ctx.member.name } },
      );
    const deadline = Date.now() + this.options.horizonTimeoutMs;
    for (;;) {
      const { nowMs } = await this.cp.serviceTime();
      // The Date header names the start of a second: count it as its end only when it is a whole second later.
      if (nowMs - 1_000 >= handle.atMs + this.options.horizonLagMs) return;
      if (Date.now() > deadline)
        throw new EngineError(
          'HORIZON_TIMEOUT',
          `Server ${this.options.server}: the service clock did not pass the restore time + horizonLagMs in ${this.options.horizonTimeoutMs} ms.`,
          {
            hint: 'Raise horizonTimeoutMs.',
            context: { member: this.ctx.member.name },
          },
        );
      await sleep(this.options.pollMs, undefined, { signal });
    }
  }

  async close(): Promise<void> {
    await this.cp.close().catch(() => undefined);
  }
}
