/**
 * Restore of a DynamoDB member to its time handle. PITR only restores into a NEW table, so in place every
 * table goes through the runbook's dance: restore to an alias → wait ACTIVE → delete the original →
 * copy the alias back under the original name (decision: copy, see ../control-plane.ts `copyTable`) →
 * wait ACTIVE → re-enable PITR → re-apply throughput, stream, TTL and tags, then auto-scaling, from the
 * manifest → delete the alias. Each finished
 * step is persisted in `restore-state.json` next to the backup's artifacts, so a crash resumes where it
 * stopped. With a target `prefix`, tables are restored straight into the new names (a second environment).
 */
import { DeleteItemCommand, DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ConfigError, EngineError } from '../../../errors.ts';
import { RestoreJournal } from '../../restore-journal.ts';
import type {
  RestoredMember,
  RestoreOptions,
  RestoreSession,
  RestoreSessionContext,
  RestoreStep,
  TargetInspection,
} from '../../contract.ts';
import type { DynamoControlPlane, TableSettings } from '../control-plane.ts';
import { dynamoTargetSchema, type DynamoOptions, type DynamoTarget } from '../options.ts';
import { memberPrefix, waitActive } from '../tables.ts';
import {
  METADATA_KEY,
  METADATA_NAMESPACE,
  METADATA_TABLE_NAME,
} from '../../../txn/storages/dynamodb/metadata.ts';
import { MANIFEST_FILE, type DynamoManifest } from './capture.ts';
import { readMemberManifest } from '../../member-manifest.ts';

const ALIAS_SUFFIX = '.stillpoint-restore';
type Step =
  | 'alias'
  | 'delete-original'
  | 'copy-back'
  | 'catalog'
  | 'pitr'
  | 'settings'
  | 'autoscaling'
  | 'delete-alias';

export class DynamoPitrRestoreSession implements RestoreSession {
  readonly target: DynamoTarget;
  private manifest: DynamoManifest | undefined;
  /** Finished steps per source table. */
  private readonly journal: RestoreJournal<Record<string, Step[]>>;

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: DynamoOptions,
    private readonly cp: DynamoControlPlane,
  ) {
    const parsed = dynamoTargetSchema.safeParse(ctx.target ?? {});
    if (!parsed.success) {
      throw new ConfigError(
        'RESTORE_TARGET_INVALID',
        `Member ${ctx.record.member.name}: bad DynamoDB restore target: ${parsed.error.message}`,
        {
          hint: 'Give {"prefix":"<new prefix>"} to restore into new table names, or nothing to restore in place.',
          context: { member: ctx.record.member.name },
        },
      );
    }
    this.target = parsed.data;
    this.journal = new RestoreJournal(
      ctx.artifacts,
      `${ctx.record.backupId}/${ctx.record.member.name}/restore-state-${this.target.prefix ?? 'in-place'}.json`,
      {},
    );
  }

  private get atMs(): number {
    const h = this.ctx.record.handle;
    if (h.kind !== 'time')
      throw new EngineError('HANDLE_KIND', `A DynamoDB restore needs a time handle, not ${h.kind}.`, {
        context: { member: this.ctx.record.member.name },
      });
    return h.atMs;
  }

  private get inPlace(): boolean {
    return this.target.prefix === undefined;
  }

  private targetName(table: string): string {
    return this.inPlace
      ? table
      : `${this.target.prefix ?? ''}${table.slice(memberPrefix(this.ctx.record.member).length)}`;
  }

  async plan(): Promise<readonly RestoreStep[]> {
    const at = new Date(this.atMs).toISOString();
    const steps: RestoreStep[] = [];
    for (const t of (await this.readManifest()).tables) {
      const name = this.targetName(t.table);
      if (this.inPlace) {
        const alias = t.table + ALIAS_SUFFIX;
        steps.push(
          {
            title: `restore ${t.table} to alias`,
            detail: `RestoreTableToPointInTime SourceTableName=${t.table} TargetTableName=${alias} RestoreDateTime=${at}`,
            destructive: false,
          },
          { title: `delete the original ${t.table}`, detail: `DeleteTable ${t.table}`, destructive: true },
          {
            title: `copy the alias back to ${t.table}`,
            detail: `CreateTable ${t.table} + Scan ${alias} → PutItem ${t.table}`,
            destructive: true,
          },
        );
      } else {
        steps.push({
          title: `restore ${t.table} as ${name}`,
          detail: `RestoreTableToPointInTime SourceTableName=${t.table} TargetTableName=${name} RestoreDateTime=${at}`,
          destructive: false,
        });
      }
      steps.push({
        title: `re-enable PITR on ${name}`,
        detail: `UpdateContinuousBackups ${name} PointInTimeRecoveryEnabled=true`,
        destructive: false,
      });
      steps.push(...settingSteps(t, name));
      for (const s of t.scalableTargets)
        steps.push({
          title: `auto-scaling ${name}`,
          detail: `RegisterScalableTarget table/${name} ${s.dimension} min=${s.min} max=${s.max}`,
          destructive: false,
        });
      for (const p of t.scalingPolicies)
        steps.push({
          title: `scaling policy ${name}`,
          detail: `PutScalingPolicy table/${name} ${p.name} target=${p.targetValue}`,
          destructive: false,
        });
      if (this.inPlace)
        steps.push({
          title: `delete the alias`,
          detail: `DeleteTable ${t.table}${ALIAS_SUFFIX}`,
          destructive: true,
        });
    }
    return steps;
  }

  async inspect(): Promise<TargetInspection> {
    const manifest = await this.readManifest();
    if (await this.ctx.artifacts.exists(this.finishedKey()))
      return {
        checks: [],
        state: 'restored',
        detail:
          'an earlier restore of this backup into this target finished (it may have been written to since)',
        hint: 'Pass --force to restore it again.',
      };
    await this.journal.load();
    if (Object.keys(this.journal.value).length > 0)
      return {
        checks: [],
        state: 'in-progress',
        detail: 'an earlier restore of this backup stopped part-way; it resumes',
      };
    const existing: string[] = [];
    for (const t of manifest.tables)
      if ((await this.cp.describeTable(this.targetName(t.table))) !== undefined)
        existing.push(this.targetName(t.table));
    if (existing.length === 0) return { checks: [], state: 'absent', detail: 'no target table exists' };
    return this.inPlace
      ? {
          checks: [],
          state: 'live-source',
          detail: `restoring in place replaces the live tables ${existing.join(', ')}`,
          hint: 'Pass --force and --overwrite-source, or restore into new names with a target prefix.',
        }
      : {
          checks: [],
          state: 'foreign',
          detail: `tables ${existing.join(', ')} already exist`,
          hint: 'Delete them, pick another prefix, or pass --force.',
        };
  }

  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    opts.signal.throwIfAborted();
    const inspection = await this.inspect();
    if (inspection.state === 'restored') {
      if (!opts.force)
        throw new ConfigError(
          'RESTORE_TARGET_NOT_EMPTY',
          `Member ${this.ctx.record.member.name}: ${inspection.detail}.`,
          { hint: inspection.hint ?? '', context: { member: this.ctx.record.member.name } },
        );
      // A forced re-run redoes every step from the start.
      await this.ctx.artifacts.delete(this.finishedKey());
      await this.journal.clear();
    }
    if (inspection.state === 'live-source' && !(opts.force && opts.allowSource === true)) {
      throw new ConfigError(
        'RESTORE_TARGET_IS_SOURCE',
        `Member ${this.ctx.record.member.name}: ${inspection.detail}.`,
        { hint: inspection.hint ?? '', context: { member: this.ctx.record.member.name } },
      );
    }
    if (inspection.state === 'foreign' && !opts.force) {
      throw new ConfigError(
        'RESTORE_TARGET_NOT_EMPTY',
        `Member ${this.ctx.record.member.name}: ${inspection.detail}.`,
        { hint: inspection.hint ?? '', context: { member: this.ctx.record.member.name } },
      );
    }
    for (const t of (await this.readManifest()).tables) await this.restoreTable(t, opts);
    const connection = this.ctx.record.member.connection;
    return {
      connection:
        this.inPlace || connection.kind !== 'dynamodb'
          ? connection
          : { ...connection, prefix: this.target.prefix ?? '' },
    };
  }

  private async restoreTable(t: TableSettings, opts: RestoreOptions): Promise<void> {
    const name = this.targetName(t.table);
    const alias = t.table + ALIAS_SUFFIX;
    const step = async (s: Step, run: () => Promise<void>) => {
      if ((this.journal.value[t.table] ?? []).includes(s)) return;
      opts.signal.throwIfAborted();
      await run();
      const done = this.journal.value;
      await this.journal.save({ ...done, [t.table]: [...(done[t.table] ?? []), s] });
    };
    const wait = (table: string) =>
      waitActive(this.cp, table, this.options.pollMs, this.options.activeTimeoutMs, opts.signal);
    if (this.inPlace) {
      await step('alias', async () => {
        if ((await this.cp.describeTable(alias)) !== undefined) await this.cp.deleteTable(alias); // a half-made alias
        await this.cp.restoreTableToPointInTime(t.table, alias, this.atMs);
        await wait(alias);
      });
      await step('delete-original', async () => {
        if ((await this.cp.describeTable(t.table)) !== undefined) await this.cp.deleteTable(t.table);
      });
      await step('copy-back', async () => {
        if ((await this.cp.describeTable(t.table)) !== undefined) await this.cp.deleteTable(t.table); // a half-made copy
        await this.cp.copyTable(alias, t.table);
        await wait(t.table);
      });
    } else {
      await step('alias', async () => {
        if ((await this.cp.describeTable(name)) !== undefined) await this.cp.deleteTable(name);
        await this.cp.restoreTableToPointInTime(t.table, name, this.atMs);
        await wait(name);
      });
      // ScalarDB's catalog keys tables by their physical name: rename its entries to the new prefix.
      if (name.endsWith(`${METADATA_NAMESPACE}.${METADATA_TABLE_NAME}`))
        await step('catalog', () => this.renameCatalog(name));
    }
    await step('pitr', () => this.cp.enablePitr(name));
    await step('settings', async () => {
      await this.cp.updateThroughput(name, t);
      await wait(name);
      if (t.stream !== undefined && (await this.cp.describeTable(name))?.stream === undefined) {
        await this.cp.enableStream(name, t.stream);
        await wait(name);
      }
      if (t.ttlAttribute !== undefined) await this.cp.enableTimeToLive(name, t.ttlAttribute);
      await this.cp.tagTable(name, t.tags ?? []);
    });
    await step('autoscaling', async () => {
      for (const s of t.scalableTargets) await this.cp.registerScalableTarget(name, s);
      for (const p of t.scalingPolicies) await this.cp.putScalingPolicy(name, p);
    });
    if (this.inPlace) await step('delete-alias', () => this.cp.deleteTable(alias));
  }

  private async renameCatalog(catalog: string): Promise<void> {
    const connection = this.ctx.record.member.connection;
    if (connection.kind !== 'dynamodb') return;
    const from = memberPrefix(this.ctx.record.member);
    const to = this.target.prefix ?? '';
    const client = new DynamoDBClient({
      region: connection.region,
      ...(connection.endpoint === undefined ? {} : { endpoint: connection.endpoint }),
      ...(connection.dummyCredentials === true
        ? { credentials: { accessKeyId: 'stillpoint-local', secretAccessKey: 'stillpoint-local' } }
        : {}),
    });
    try {
      const items =
        (await client.send(new ScanCommand({ TableName: catalog, ConsistentRead: true }))).Items ?? [];
      for (const item of items) {
        const stored = item[METADATA_KEY]?.S ?? '';
        if (!stored.startsWith(from) || stored.startsWith(to)) continue;
        await client.send(
          new PutItemCommand({
            TableName: catalog,
            Item: { ...item, [METADATA_KEY]: { S: to + stored.slice(from.length) } },
          }),
        );
        await client.send(
          new DeleteItemCommand({ TableName: catalog, Key: { [METADATA_KEY]: { S: stored } } }),
        );
      }
    } finally {
      client.destroy();
    }
  }

  /** The finished marker makes a later re-run into this target need --force; the step log goes. */
  async markFinished(): Promise<void> {
    await this.ctx.artifacts.put(
      this.finishedKey(),
      JSON.stringify({ finishedAt: new Date().toISOString() }),
    );
    await this.journal.clear();
  }

  async close(): Promise<void> {
    await this.cp.close().catch(() => undefined);
  }

  private finishedKey(): string {
    return `${this.ctx.record.backupId}/${this.ctx.record.member.name}/restore-finished-${this.target.prefix ?? 'in-place'}.json`;
  }

  private async readManifest(): Promise<DynamoManifest> {
    return (this.manifest ??= await readMemberManifest<DynamoManifest>(this.ctx, MANIFEST_FILE));
  }
}

/** The dry-run lines of the settings step: the API calls that re-apply what the manifest holds. */
function settingSteps(t: TableSettings, name: string): RestoreStep[] {
  const capacity =
    t.billingMode === 'PAY_PER_REQUEST'
      ? 'BillingMode=PAY_PER_REQUEST'
      : `BillingMode=PROVISIONED ReadCapacityUnits=${t.readCapacity ?? 1} WriteCapacityUnits=${t.writeCapacity ?? 1}`;
  const steps: RestoreStep[] = [
    {
      title: `capacity of ${name}`,
      detail: `UpdateTable ${name} ${capacity} (when it differs)`,
      destructive: false,
    },
  ];
  if (t.stream !== undefined)
    steps.push({
      title: `stream of ${name}`,
      detail: `UpdateTable ${name} StreamSpecification StreamEnabled=true StreamViewType=${t.stream.viewType}`,
      destructive: false,
    });
  if (t.ttlAttribute !== undefined)
    steps.push({
      title: `TTL of ${name}`,
      detail: `UpdateTimeToLive ${name} Enabled=true AttributeName=${t.ttlAttribute}`,
      destructive: false,
    });
  if ((t.tags ?? []).length > 0)
    steps.push({
      title: `tags of ${name}`,
      detail: `TagResource ${name} ${(t.tags ?? []).map((g) => `${g.key}=${g.value}`).join(' ')}`,
      destructive: false,
    });
  return steps;
}
