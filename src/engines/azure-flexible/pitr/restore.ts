/**
 * Restore of an `azure-flexible` member to its time handle: a PUT of a NEW flexible server with
 * `createMode: PointInTimeRestore`, the source's id, location, SKU, VNet subnet/DNS zone and tags (plus
 * `stillpoint:restore-of = <backup id>`), then a wait until it is Ready; the member's connection is
 * rewritten to its host. Steps are persisted (`azure-flexible-restore-<server>.json`): a re-run does not
 * PUT again, it waits. An existing server that is not this restore's own is never replaced. Names are never
 * swapped (target `swapNames` is refused with MANAGED_RENAME_UNSUPPORTED): Azure cannot rename a server.
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
import {
  managedConnection,
  inspectNewResource,
  restoreTag,
  waitAvailable,
  type ManagedRestoreState,
} from '../../managed-restore.ts';
import { RestoreJournal } from '../../restore-journal.ts';
import { refuseUnlessRestorable } from '../../restore-refusal.ts';
import type { FlexibleControlPlane, FlexibleServer } from '../control-plane.ts';
import {
  azureFlexibleTargetSchema,
  type AzureFlexibleOptions,
  type AzureFlexibleTarget,
} from '../options.ts';
import { AZURE_MANIFEST_FILE, type AzureFlexibleManifest } from './capture.ts';
import { readMemberManifest } from '../../member-manifest.ts';

export class AzureFlexibleRestoreSession implements RestoreSession {
  readonly target: AzureFlexibleTarget & { readonly server: string };
  private manifest: AzureFlexibleManifest | undefined;
  private readonly journal: RestoreJournal<ManagedRestoreState>;

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: AzureFlexibleOptions & { readonly port: number },
    private readonly cp: FlexibleControlPlane,
  ) {
    const parsed = azureFlexibleTargetSchema.safeParse(ctx.target ?? {});
    if (!parsed.success)
      throw new ConfigError(
        'RESTORE_TARGET_INVALID',
        `Member ${ctx.record.member.name}: bad Azure restore target: ${parsed.error.message}`,
        {
          hint: 'Give {"server":"<new server name>"} (lower case, digits, hyphens).',
          context: { member: ctx.record.member.name },
        },
      );
    if (parsed.data.swapNames === true)
      throw new ConfigError(
        'MANAGED_RENAME_UNSUPPORTED',
        `Member ${ctx.record.member.name}: Azure flexible servers cannot be renamed, so names cannot be swapped.`,
        {
          hint: 'Leave swapNames out: the restored group config points at the new server. To keep a host name, repoint your DNS CNAME (or clients) to the new server.',
          context: { member: ctx.record.member.name },
        },
      );
    const tail = ctx.record.backupId
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(-10);
    this.target = { ...parsed.data, server: parsed.data.server ?? `${options.server}-sp-${tail}` };
    this.journal = new RestoreJournal(
      ctx.artifacts,
      `${ctx.record.backupId}/${ctx.record.member.name}/azure-flexible-restore-${this.target.server}.json`,
      { steps: [], finished: false },
    );
  }

  private get state(): ManagedRestoreState {
    return this.journal.value;
  }

  private get atMs(): number {
    const h = this.ctx.record.handle;
    if (h.kind !== 'time')
      throw new EngineError('HANDLE_KIND', `An Azure restore needs a time handle, not ${h.kind}.`, {
        context: { member: this.ctx.record.member.name },
      });
    return h.atMs;
  }

  private tags(source: FlexibleServer): Record<string, string> {
    return { ...source.tags, [restoreTag]: this.ctx.record.backupId };
  }

  async plan(): Promise<readonly RestoreStep[]> {
    const { source } = await this.readManifest();
    const path = `resourceGroups/${this.options.resourceGroup}/providers/…/flexibleServers/${this.target.server}`;
    return [
      { title: `check that ${this.target.server} does not exist`, detail: `GET ${path}`, destructive: false },
      {
        title: `restore ${source.name} as ${this.target.server} to ${new Date(this.atMs).toISOString()}`,
        detail: `PUT ${path} createMode=PointInTimeRestore sourceServerResourceId=${source.id} pointInTime=${new Date(this.atMs).toISOString()} location=${source.location} sku=${source.sku?.name ?? '-'}/${source.sku?.tier ?? '-'} subnet=${source.subnetId ?? 'public'} privateDnsZone=${source.privateDnsZoneId ?? '-'} tags=${JSON.stringify(this.tags(source))}`,
        destructive: false,
      },
      {
        title: `wait for ${this.target.server}`,
        detail: `GET ${path} until state=Ready`,
        destructive: false,
      },
      {
        title: 'point the member at the new server',
        detail: `restored group config: ${this.ctx.record.member.name}.connection host = the new server's fullyQualifiedDomainName, port ${this.options.port}`,
        destructive: false,
      },
    ];
  }

  async inspect(): Promise<TargetInspection> {
    const { source } = await this.readManifest();
    await this.journal.load();
    return inspectNewResource({
      name: this.target.server,
      service: 'Azure',
      isLiveSource: this.target.server === source.name,
      describe: async () => {
        const server = await this.cp.getServer(this.target.server);
        return server && { restoreOf: server.tags[restoreTag] };
      },
      backupId: this.ctx.record.backupId,
      state: this.state,
      hints: {
        liveSource: 'Azure restores only into a new server: name another one.',
        unreachable: 'Check the endpoint and the credentials.',
        another: 'Name another server',
      },
    });
  }

  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    const inspection = await this.inspect();
    const context = { member: this.ctx.record.member.name, target: this.target.server };
    refuseUnlessRestorable(inspection, opts, context);
    if (inspection.state === 'foreign' || inspection.state === 'live-source')
      throw new ConfigError(
        'RESTORE_TARGET_NOT_EMPTY',
        `${inspection.detail}; stillpoint never deletes or replaces a server.`,
        {
          context,
          hint: 'Name another target server, or delete that one yourself.',
        },
      );
    const { source } = await this.readManifest();
    if (!this.state.steps.includes('request')) {
      if ((await this.cp.getServer(this.target.server)) === undefined)
        await this.cp.restoreServer({
          source,
          target: this.target.server,
          atMs: this.atMs,
          tags: this.tags(source),
        });
      await this.journal.save({ ...this.state, steps: [...this.state.steps, 'request'] });
    }
    const ready = await waitAvailable(
      async () => {
        const s = await this.cp.getServer(this.target.server);
        return s === undefined
          ? undefined
          : {
              status: s.state,
              ...(s.host === undefined ? {} : { endpoint: { host: s.host, port: this.options.port } }),
            };
      },
      `server ${this.target.server}`,
      {
        pollMs: this.options.pollMs,
        timeoutMs: this.options.availableTimeoutMs,
        signal: opts.signal,
        member: this.ctx.record.member.name,
      },
    );
    await this.journal.save({ ...this.state, steps: [...this.state.steps, 'available'] });
    return { connection: managedConnection(this.ctx.record.member, ready, this.target) };
  }

  async markFinished(): Promise<void> {
    await this.journal.save({ ...this.state, finished: true });
  }

  async close(): Promise<void> {
    await this.cp.close().catch(() => undefined);
  }

  private async readManifest(): Promise<AzureFlexibleManifest> {
    return (this.manifest ??= await readMemberManifest<AzureFlexibleManifest>(this.ctx, AZURE_MANIFEST_FILE));
  }
}
