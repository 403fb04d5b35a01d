/**
 * Restore of a Cosmos DB member to its time handle. Cosmos DB restores an account only into a NEW account,
 * so the steps are: create the target account in Restore mode as of the handle's time (a long-running
 * operation; wait for it) → set its default consistency back to STRONG (a restore does not keep it) →
 * recreate the stored procedures recorded in the manifest (a restore does not keep them) → read the new
 * account's key. The restored connection points at the new endpoint; the orchestrator then rewrites the
 * group config, runs the sweep and the checker. Each finished step is persisted in
 * `restore-state-<account>.json` next to the backup's artifacts, so a crash resumes where it stopped.
 */
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
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
import { MANIFEST_FILE, type CosmosManifest } from './capture.ts';
import type { CosmosControlPlane } from '../control-plane.ts';
import { cosmosTargetSchema, type CosmosOptions, type CosmosTarget } from '../options.ts';
import { readMemberManifest } from '../../member-manifest.ts';

type Step = 'create-account' | 'consistency' | 'stored-procedures' | 'key';
interface RestoreState {
  done: Step[];
  /** Written before the restore PUT: an account that exists after a crash here is ours, not foreign. */
  started?: boolean;
  endpoint?: string;
}

export class CosmosPitrRestoreSession implements RestoreSession {
  readonly target: CosmosTarget & { account: string };
  private manifest: CosmosManifest | undefined;
  private readonly journal: RestoreJournal<RestoreState>;

  constructor(
    private readonly ctx: RestoreSessionContext,
    private readonly options: CosmosOptions,
    private readonly cp: CosmosControlPlane,
  ) {
    const member = ctx.record.member.name;
    const parsed = cosmosTargetSchema.safeParse(ctx.target ?? {});
    if (!parsed.success)
      throw new ConfigError(
        'RESTORE_TARGET_INVALID',
        `Member ${member}: bad Cosmos DB restore target: ${parsed.error.message}`,
        {
          hint: 'Give {"account":"<new account name>","keyFile":"<path>"}; both are optional.',
          context: { member },
        },
      );
    const account =
      parsed.data.account ?? `${options.account}-r-${ctx.record.backupId.slice(0, 8).toLowerCase()}`;
    if (account === options.account)
      throw new ConfigError(
        'RESTORE_TARGET_IS_SOURCE',
        `Member ${member}: Cosmos DB restores only into a new account, not ${account}.`,
        {
          hint: 'Name another account in the target.',
          context: { member },
        },
      );
    this.target = { ...parsed.data, account };
    this.journal = new RestoreJournal(
      ctx.artifacts,
      `${ctx.record.backupId}/${ctx.record.member.name}/restore-state-${account}.json`,
      { done: [] },
    );
  }

  private get state(): RestoreState {
    return this.journal.value;
  }

  private get atMs(): number {
    const h = this.ctx.record.handle;
    if (h.kind !== 'time')
      throw new EngineError('HANDLE_KIND', `A Cosmos DB restore needs a time handle, not ${h.kind}.`, {
        context: { member: this.ctx.record.member.name },
      });
    return h.atMs;
  }

  async plan(): Promise<readonly RestoreStep[]> {
    const m = await this.readManifest();
    const to = this.target.account;
    const steps: RestoreStep[] = [
      {
        title: `restore account ${m.account} into the new account ${to}`,
        detail: `PUT databaseAccounts/${to} createMode=Restore restoreSource=restorableDatabaseAccounts/<instance of ${m.account}> restoreTimestampInUtc=${new Date(this.atMs).toISOString()} (wait for the operation)`,
        destructive: false,
      },
      {
        title: `set STRONG on ${to}`,
        detail: `PATCH databaseAccounts/${to} consistencyPolicy.defaultConsistencyLevel=Strong`,
        destructive: false,
      },
    ];
    for (const c of m.containers)
      for (const sp of c.storedProcedures)
        steps.push({
          title: `recreate stored procedure ${sp.id} in ${c.database}/${c.container}`,
          detail: `PUT databaseAccounts/${to}/sqlDatabases/${c.database}/containers/${c.container}/storedProcedures/${sp.id}`,
          destructive: false,
        });
    steps.push({
      title: `point the group at ${to}`,
      detail: `POST databaseAccounts/${to}/listKeys${this.target.keyFile === undefined ? '' : ` → ${this.target.keyFile} (0600)`}; connection endpoint = the new account's documentEndpoint`,
      destructive: false,
    });
    return steps;
  }

  async inspect(): Promise<TargetInspection> {
    await this.journal.load();
    const checks = [];
    const source = await this.cp.getAccount(this.options.account);
    const oldest = source === undefined ? undefined : await this.cp.oldestRestorableMs(source);
    checks.push(
      oldest !== undefined && oldest <= this.atMs
        ? {
            name: `restorable ${this.options.account}`,
            ok: true,
            detail: `restorable since ${new Date(oldest).toISOString()}`,
          }
        : {
            name: `restorable ${this.options.account}`,
            ok: false,
            detail: `account ${this.options.account} has no restorable range covering ${new Date(this.atMs).toISOString()}`,
            hint: 'Continuous backup keeps 7 or 30 days (tier); the account may have been deleted longer ago.',
          },
    );
    if (this.state.done.length > 0 || this.state.started === true)
      return {
        checks,
        state: 'in-progress',
        detail: 'an earlier restore of this backup stopped part-way; it resumes',
      };
    if ((await this.cp.getAccount(this.target.account)) === undefined)
      return { checks, state: 'absent', detail: `account ${this.target.account} does not exist` };
    return {
      checks,
      state: 'foreign',
      detail: `account ${this.target.account} already exists`,
      hint: 'Name another target account, or delete it (az cosmosdb delete).',
    };
  }

  async restore(opts: RestoreOptions): Promise<RestoredMember> {
    const member = this.ctx.record.member.name;
    const inspection = await this.inspect();
    const refused = inspection.checks.find((c) => !c.ok);
    if (refused !== undefined)
      throw new EngineError('COSMOS_ACCOUNT_NOT_RESTORABLE', `Member ${member}: ${refused.detail}.`, {
        hint: refused.hint ?? '',
        context: { member },
      });
    // An existing account cannot be overwritten by a Cosmos DB restore, even with force.
    if (inspection.state === 'foreign')
      throw new ConfigError('RESTORE_TARGET_NOT_EMPTY', `Member ${member}: ${inspection.detail}.`, {
        hint: inspection.hint ?? '',
        context: { member },
      });
    const manifest = await this.readManifest();
    const to = this.target.account;
    await this.step('create-account', async () => {
      const existing = await this.cp.getAccount(to); // a crash after the PUT: the operation runs on without us
      if (existing === undefined) {
        await this.journal.save({ ...this.state, started: true });
      }
      const account = existing ?? (await this.cp.restoreAccount(await this.source(), to, this.atMs));
      const { documentEndpoint } = await this.waitReady(account.name, opts.signal);
      await this.journal.save({ ...this.state, endpoint: documentEndpoint });
    });
    await this.step('consistency', () => this.cp.setStrongConsistency(to));
    await this.step('stored-procedures', async () => {
      for (const c of manifest.containers)
        for (const sp of c.storedProcedures)
          await this.cp.putStoredProcedure(to, c.database, c.container, sp);
    });
    await this.step('key', async () => {
      if (this.target.keyFile !== undefined)
        await writeFile(this.target.keyFile, await this.cp.primaryKey(to), { mode: 0o600 });
    });
    const connection = this.ctx.record.member.connection;
    if (connection.kind !== 'cosmos' || this.state.endpoint === undefined)
      throw new EngineError('RESTORE_FAILED', `Member ${member}: the restored account has no endpoint.`, {
        context: { member },
      });
    const { password: _p, passwordEnv: _e, passwordFile: _f, ...rest } = connection;
    return {
      connection: {
        ...(this.target.keyFile === undefined ? connection : { ...rest, passwordFile: this.target.keyFile }),
        endpoint: this.state.endpoint,
      },
    };
  }

  async markFinished(): Promise<void> {
    await this.journal.clear();
  }

  async close(): Promise<void> {
    await this.cp.close().catch(() => undefined);
  }

  private async source() {
    const source = await this.cp.getAccount(this.options.account);
    if (source === undefined)
      throw new EngineError('COSMOS_ACCOUNT_NOT_RESTORABLE', `Account ${this.options.account} is gone.`, {
        context: { member: this.ctx.record.member.name },
      });
    return source;
  }

  private async waitReady(account: string, signal: AbortSignal) {
    const deadline = Date.now() + this.options.restoreTimeoutMs;
    for (;;) {
      const a = await this.cp.getAccount(account);
      if (a?.provisioningState === 'Succeeded') return a;
      if (a === undefined || a.provisioningState === 'Failed')
        throw new EngineError('RESTORE_FAILED', `The restore into account ${account} failed.`, {
          hint: 'See the account activity log in the Azure portal; delete the failed account and retry.',
          context: { member: this.ctx.record.member.name },
        });
      if (Date.now() > deadline)
        throw new EngineError(
          'COSMOS_RESTORE_TIMEOUT',
          `Account ${account} is still ${a.provisioningState} after ${this.options.restoreTimeoutMs} ms.`,
          {
            hint: 'Run the same restore again later: it resumes waiting for this account (raise restoreTimeoutMs for large accounts).',
            context: { member: this.ctx.record.member.name },
          },
        );
      await sleep(this.options.pollMs, undefined, { signal });
    }
  }

  private async step(s: Step, run: () => Promise<void>): Promise<void> {
    if (this.state.done.includes(s)) return;
    await run();
    await this.journal.save({ ...this.state, done: [...this.state.done, s] });
  }

  private async readManifest(): Promise<CosmosManifest> {
    return (this.manifest ??= await readMemberManifest<CosmosManifest>(this.ctx, MANIFEST_FILE));
  }
}
