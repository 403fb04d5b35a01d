/**
 * Restore of an `rds` member to its time handle. RDS restores only into a NEW resource: an instance
 * (RestoreDBInstanceToPointInTime) or, for Aurora, a cluster (RestoreDBClusterToPointInTime) plus a new
 * instance in it (CreateDBInstance). The new resource gets the source's parameter group, subnet group,
 * security groups and tags as recorded in the backup's manifest, plus the tag `stillpoint:restore-of =
 * <backup id>` that marks it as ours. The session waits until it is `available` and hands its endpoint to
 * the orchestrator as the member's new connection (the restored group config points at it).
 *
 * Every finished step is persisted in the artifact store (`rds-restore-<target>.json`), so a re-run after
 * a crash resumes: a restore already requested is not requested again, it is waited for.
 *
 * An existing resource is never deleted: a target that exists and is not this restore's leftover is
 * refused, even with --force (delete it or name another target). The one rename: with `swapNames` and
 * --force, the source instance is renamed out of the way and the restored one takes its name (./swap.ts).
 */
import { ConfigError, EngineError } from '../../../errors.ts';
import type {
  RestoredMember,
  RestoreOptions,
  RestoreSession,
  RestoreSessionContext,
  RestoreStep,
  TargetInspection,
} from '../../contract.ts';
import { RestoreJournal } from '../../restore-journal.ts';
import { refuseUnlessRestorable } from '../../restore-refusal.ts';
import type { RdsControlPlane, RdsResource, RdsTag } from '../control-plane.ts';
import { rdsTargetSchema, type RdsOptions, type RdsTarget } from '../options.ts';
import { RDS_MANIFEST_FILE, type RdsManifest } from './capture.ts';
import { isRestoreOf, parkedName, refuseSwap, swapNames, swapPlan, type SwapNames } from './swap.ts';
import {
  managedConnection,
  inspectNewResource,
  restoreTag,
  waitAvailable,
  type ManagedRestoreState,
} from '../../managed-restore.ts';
import { readMemberManifest } from '../../member-manifest.ts';

type Step = 'request' | 'cluster-available' | 'instance' | 'available' | 'rename-source' | 'rename-restored';

export class RdsPitrRestoreSession implements RestoreSession {
  readonly target: RdsTarget & { readonly instance: string };
  private manifest: RdsManifest | undefined;
  private readonly journal: RestoreJournal<ManagedRestoreState>;
  /** The backup id's tail: names the default target and the parked source of a swap. */
  private readonly suffix: string;

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: RdsOptions,
    private readonly cp: RdsControlPlane,
  ) {
    const parsed = rdsTargetSchema.safeParse(ctx.target ?? {});
    if (!parsed.success)
      throw new ConfigError(
        'RESTORE_TARGET_INVALID',
        `Member ${ctx.record.member.name}: bad RDS restore target: ${parsed.error.message}`,
        {
          hint: 'Give {"instance":"<new id>"} (Aurora: also "cluster"), optionally "instanceClass".',
          context: { member: ctx.record.member.name },
        },
      );
    const tail = (this.suffix = ctx.record.backupId
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(-10));
    const source = options.cluster ?? options.instance ?? 'db';
    this.target = {
      ...parsed.data,
      instance: parsed.data.instance ?? `${source}-sp-${tail}`,
      ...(options.cluster === undefined ? {} : { cluster: parsed.data.cluster ?? `${source}-sp-${tail}` }),
    };
    this.journal = new RestoreJournal(
      ctx.artifacts,
      `${ctx.record.backupId}/${ctx.record.member.name}/rds-restore-${this.newId}.json`,
      { steps: [], finished: false },
    );
  }

  private get state(): ManagedRestoreState {
    return this.journal.value;
  }

  private get isCluster(): boolean {
    return this.options.cluster !== undefined;
  }

  /** The resource the restore creates: the new instance, or the new cluster. */
  private get newId(): string {
    return this.isCluster ? (this.target.cluster ?? '') : this.target.instance;
  }

  private get swap(): SwapNames {
    const source = this.options.instance ?? '';
    return {
      source,
      restored: this.newId,
      parked: parkedName(source, this.suffix),
      backupId: this.ctx.record.backupId,
    };
  }

  private get atMs(): number {
    const h = this.ctx.record.handle;
    if (h.kind !== 'time')
      throw new EngineError('HANDLE_KIND', `An RDS restore needs a time handle, not ${h.kind}.`, {
        context: { member: this.ctx.record.member.name },
      });
    return h.atMs;
  }

  private tags(source: RdsResource): RdsTag[] {
    return [
      ...source.tags.filter((t) => t.key !== restoreTag),
      { key: restoreTag, value: this.ctx.record.backupId },
    ];
  }

  async plan(): Promise<readonly RestoreStep[]> {
    const { source } = await this.readManifest();
    const at = new Date(this.atMs).toISOString();
    const placement = [
      source.parameterGroup === undefined
        ? ''
        : ` ${this.isCluster ? 'DBClusterParameterGroupName' : 'DBParameterGroupName'}=${source.parameterGroup}`,
      source.subnetGroup === undefined ? '' : ` DBSubnetGroupName=${source.subnetGroup}`,
      ` VpcSecurityGroupIds=${source.securityGroupIds.join(',')}`,
      ` Tags=${this.tags(source)
        .map((t) => `${t.key}=${t.value}`)
        .join(',')}`,
    ].join('');
    const steps: RestoreStep[] = [
      {
        title: `check that ${this.newId} does not exist`,
        detail: this.isCluster
          ? `DescribeDBClusters DBClusterIdentifier=${this.newId}`
          : `DescribeDBInstances DBInstanceIdentifier=${this.newId}`,
        destructive: false,
      },
    ];
    if (this.isCluster) {
      steps.push(
        {
          title: `restore cluster ${source.id} as ${this.newId} to ${at}`,
          detail: `RestoreDBClusterToPointInTime SourceDBClusterIdentifier=${source.id} DBClusterIdentifier=${this.newId} RestoreType=full-copy RestoreToTime=${at}${placement}`,
          destructive: false,
        },
        {
          title: `wait for cluster ${this.newId}`,
          detail: `DescribeDBClusters DBClusterIdentifier=${this.newId} until Status=available`,
          destructive: false,
        },
        {
          title: `add instance ${this.target.instance}`,
          detail: `CreateDBInstance DBInstanceIdentifier=${this.target.instance} DBClusterIdentifier=${this.newId} DBInstanceClass=${this.target.instanceClass ?? '<required: target instanceClass>'} Engine=${source.engine}`,
          destructive: false,
        },
      );
    } else {
      steps.push({
        title: `restore instance ${source.id} as ${this.newId} to ${at}`,
        detail: `RestoreDBInstanceToPointInTime SourceDBInstanceIdentifier=${source.id} TargetDBInstanceIdentifier=${this.newId} RestoreTime=${at} DBInstanceClass=${this.target.instanceClass ?? source.instanceClass ?? '<source>'}${placement}`,
        destructive: false,
      });
    }
    steps.push({
      title: `wait for instance ${this.target.instance}`,
      detail: `DescribeDBInstances DBInstanceIdentifier=${this.target.instance} until DBInstanceStatus=available`,
      destructive: false,
    });
    if (this.target.swapNames) steps.push(...swapPlan(this.swap));
    steps.push({
      title: `point the member at the new endpoint`,
      detail: `restored group config: ${this.ctx.record.member.name}.connection host/port = the endpoint of ${this.target.swapNames ? `${source.id} (the restored instance, renamed)` : this.newId}`,
      destructive: false,
    });
    return steps;
  }

  /**
   * The restored resource: under its new name, or — once a swap renamed it, even if a crash kept that
   * step from being recorded — under the source's name, known by this restore's tag.
   */
  private async describeNew(): Promise<RdsResource | undefined> {
    if (this.isCluster) return this.cp.describeCluster(this.newId);
    const found = await this.cp.describeInstance(this.newId);
    if (found !== undefined || !this.target.swapNames) return found;
    const renamed = await this.cp.describeInstance(this.swap.source);
    return isRestoreOf(renamed, this.ctx.record.backupId) ? renamed : undefined;
  }

  async inspect(): Promise<TargetInspection> {
    const { source } = await this.readManifest();
    await this.journal.load();
    return inspectNewResource({
      name: this.newId,
      service: 'RDS',
      isLiveSource: this.newId === source.id,
      describe: async () => {
        const existing = await this.describeNew();
        return existing && { restoreOf: existing.tags.find((t) => t.key === restoreTag)?.value };
      },
      backupId: this.ctx.record.backupId,
      state: this.state,
      hints: {
        liveSource: 'RDS restores only into a new resource: name another target instance/cluster.',
        unreachable: 'Check the region/endpoint and the credentials.',
        another: 'Name another target',
      },
    });
  }

  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    const inspection = await this.inspect();
    const context = { member: this.ctx.record.member.name, target: this.newId };
    if (this.target.swapNames) refuseSwap({ cluster: this.isCluster, force: opts.force, context });
    refuseUnlessRestorable(inspection, opts, context);
    if (inspection.state === 'foreign' || inspection.state === 'live-source')
      throw new ConfigError(
        'RESTORE_TARGET_NOT_EMPTY',
        `${inspection.detail}; stillpoint never deletes or replaces an RDS resource.`,
        {
          context,
          hint: 'Name another target instance/cluster, or delete that one yourself.',
        },
      );
    const { source } = await this.readManifest();
    const step = async (s: Step, run: () => Promise<void>) => {
      if (this.state.steps.includes(s)) return;
      await run();
      await this.journal.save({ ...this.state, steps: [...this.state.steps, s] });
    };
    const request = {
      source: source.id,
      target: this.newId,
      atMs: this.atMs,
      ...(source.parameterGroup === undefined ? {} : { parameterGroup: source.parameterGroup }),
      ...(source.subnetGroup === undefined ? {} : { subnetGroup: source.subnetGroup }),
      securityGroupIds: source.securityGroupIds,
      tags: this.tags(source),
    };
    const wait = (describe: () => Promise<RdsResource | undefined>, what: string) =>
      waitAvailable(describe, what, {
        pollMs: this.options.pollMs,
        timeoutMs: this.options.availableTimeoutMs,
        signal: opts.signal,
        member: this.ctx.record.member.name,
      });
    let endpoint: { host: string; port: number };
    if (this.isCluster) {
      const instanceClass = this.target.instanceClass;
      if (instanceClass === undefined)
        throw new ConfigError('RESTORE_TARGET_INVALID', 'An Aurora restore needs the new instance class.', {
          context,
          hint: 'Give the target {"instanceClass":"db.r6g.large"} (the class of the new instance in the restored cluster).',
        });
      await step('request', async () => {
        if ((await this.describeNew()) === undefined) await this.cp.restoreClusterToTime(request);
      });
      await step(
        'cluster-available',
        async () => void (await wait(() => this.describeNew(), `cluster ${this.newId}`)),
      );
      await step('instance', async () => {
        if ((await this.cp.describeInstance(this.target.instance)) === undefined)
          await this.cp.createClusterInstance({
            cluster: this.newId,
            instance: this.target.instance,
            instanceClass,
            engine: source.engine,
            tags: request.tags,
          });
      });
      await wait(() => this.cp.describeInstance(this.target.instance), `instance ${this.target.instance}`);
      endpoint = await wait(() => this.describeNew(), `cluster ${this.newId}`);
    } else {
      await step('request', async () => {
        if ((await this.describeNew()) === undefined)
          await this.cp.restoreInstanceToTime({
            ...request,
            ...(this.target.instanceClass === undefined ? {} : { instanceClass: this.target.instanceClass }),
          });
      });
      endpoint = await wait(() => this.describeNew(), `instance ${this.newId}`);
    }
    await step('available', () => Promise.resolve());
    if (this.target.swapNames) endpoint = await swapNames(this.cp, this.swap, step, wait);
    return { connection: managedConnection(this.ctx.record.member, endpoint, this.target) };
  }

  async markFinished(): Promise<void> {
    await this.journal.save({ ...this.state, finished: true });
  }

  async close(): Promise<void> {
    await this.cp.close().catch(() => undefined);
  }

  private async readManifest(): Promise<RdsManifest> {
    return (this.manifest ??= await readMemberManifest<RdsManifest>(this.ctx, RDS_MANIFEST_FILE));
  }
}
