/**
 * Backup of an `rds` member by the service's own point-in-time recovery (automated backups). Nothing is
 * copied: the restore point is a time in the service's clock (the window's mid-time plus the offset measured
 * inside the pause). Preflight checks that automated backups are on and that their retention covers the
 * plan's `minRetentionDays`; finish stores a manifest of what a restore must re-create (parameter group,
 * subnet group, security groups, tags, class), because RDS restores none of them unless asked. The backup
 * is complete once LatestRestorableTime has passed the restore time (`horizon`).
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
import type { RdsControlPlane, RdsResource } from '../control-plane.ts';
import type { RdsOptions } from '../options.ts';

export const RDS_MANIFEST_FILE = 'rds-manifest.json';

export interface RdsManifest {
  readonly kind: 'instance' | 'cluster';
  readonly source: RdsResource;
}

/** The source resource of a member: its instance, or its Aurora cluster. */
export async function describeSource(
  cp: RdsControlPlane,
  options: RdsOptions,
): Promise<RdsResource | undefined> {
  return options.cluster !== undefined
    ? cp.describeCluster(options.cluster)
    : cp.describeInstance(options.instance ?? '');
}

export const sourceId = (options: RdsOptions): string => options.cluster ?? options.instance ?? '';

export class RdsPitrBackupSession implements BackupSession {
  readonly capabilities = MANAGED_CAPABILITIES;
  private source: RdsResource | undefined;
  private captured: CaptureResult | undefined;

  constructor(
    private readonly ctx: BackupSessionContext,
    private readonly options: RdsOptions,
    private readonly cp: RdsControlPlane,
  ) {}

  async preflight(): Promise<readonly PreflightCheck[]> {
    const id = sourceId(this.options);
    const what = this.options.cluster === undefined ? 'instance' : 'cluster';
    try {
      this.source = await describeSource(this.cp, this.options);
    } catch (error) {
      return [
        {
          name: 'rds reachable',
          ok: false,
          detail: (error as Error).message,
          hint: 'Check the region/endpoint and the credentials (rds:DescribeDBInstances, rds:DescribeDBClusters).',
        },
      ];
    }
    if (this.source === undefined)
      return [
        {
          name: `rds ${what} ${id}`,
          ok: false,
          detail: `no ${what} ${id}`,
          hint: `Check the member option ${what} and the region.`,
        },
      ];
    const days = this.source.backupRetentionDays;
    return [
      { name: `rds ${what} ${id}`, ok: true, detail: `${this.source.engine}, ${this.source.status}` },
      days === 0
        ? {
            name: 'rds automated backups',
            ok: false,
            detail: 'automated backups are OFF (BackupRetentionPeriod 0): no point-in-time restore',
            hint: `Turn them on: aws rds modify-db-${what} --db-${what}-identifier ${id} --backup-retention-period ${this.options.minRetentionDays} --apply-immediately.`,
          }
        : days < this.options.minRetentionDays
          ? {
              name: 'rds automated backups',
              ok: false,
              detail: `retention ${days} days is shorter than the plan's minRetentionDays ${this.options.minRetentionDays}`,
              hint: `Raise it: aws rds modify-db-${what} --db-${what}-identifier ${id} --backup-retention-period ${this.options.minRetentionDays}, or lower minRetentionDays.`,
            }
          : { name: 'rds automated backups', ok: true, detail: `retention ${days} days` },
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
    const source = this.source ?? (await describeSource(this.cp, this.options));
    if (source === undefined)
      throw new EngineError('RESTORE_FAILED', `RDS ${sourceId(this.options)} vanished during the backup.`, {
        context: { member: this.ctx.member.name },
      });
    const handle = windowTimeHandle(window, 'RDS', this.ctx.member.name);
    const manifest: RdsManifest = {
      kind: this.options.cluster === undefined ? 'instance' : 'cluster',
      source,
    };
    const ref = await this.ctx.artifacts.put(
      `${this.ctx.artifactPrefix}${RDS_MANIFEST_FILE}`,
      JSON.stringify(manifest, null, 2),
    );
    return {
      handle,
      artifacts: [ref],
      bytes: ref.bytes,
      detail: { source: source.id, engine: source.engine },
    };
  }

  discard(): Promise<void> {
    this.captured = undefined;
    return Promise.resolve();
  }

  /** Complete only when the source's LatestRestorableTime has passed the restore time. */
  async horizon(handle: RestoreHandle, signal: AbortSignal): Promise<void> {
    if (handle.kind !== 'time')
      throw new EngineError('HANDLE_KIND', `An RDS backup has a time handle, not ${handle.kind}.`, {
        context: { member: this.ctx.member.name },
      });
    const deadline = Date.now() + this.options.horizonTimeoutMs;
    for (;;) {
      const source = await describeSource(this.cp, this.options);
      if ((source?.latestRestorableMs ?? -Infinity) >= handle.atMs) return;
      if (Date.now() > deadline)
        throw new EngineError(
          'HORIZON_TIMEOUT',
          `RDS ${sourceId(this.options)}: LatestRestorableTime did not pass ${new Date(handle.atMs).toISOString()} in ${this.options.horizonTimeoutMs} ms.`,
          {
            hint: 'RDS trails real time by about five minutes; raise horizonTimeoutMs if it trails more.',
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
