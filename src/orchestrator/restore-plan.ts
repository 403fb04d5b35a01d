/**
 * The restore planner: what `stillpoint restore <id> --dry-run` prints. For each member: where it came
 * from, where it goes, its restore handle, the engine's steps, the target's inspection (reachable,
 * credentials, absent / empty / leftover / restored / foreign / live source), and every time in explicit
 * UTC. Planning changes nothing; it opens one engine restore session per member, which the caller closes
 * ({@link PlannedRestore.close}). Hooks and password sources come from the current plan, never the catalog.
 */
import { openArtifactStore } from '../artifacts/open-store.ts';
import type { ArtifactStore } from '../artifacts/contract.ts';
import { withProgress } from '../artifacts/progress-store.ts';
import type { BackupRecord, Catalog } from '../catalog/catalog.ts';
import type {
  Logger,
  MemberRecord,
  RestoreHandle,
  RestoreSession,
  RestoreStep,
  RestoreTarget,
  TargetInspection,
  TransferSink,
} from '../engines/contract.ts';
import { resolveMember } from '../engines/registry.ts';
import { resolvePassword } from '../password.ts';
import { CatalogError, ConfigError, asStillpointError } from '../errors.ts';
import type { StorageConfig } from '../txn/contract.ts';
import { redactSecrets } from '../redact.ts';

export interface RestoreRequest {
  readonly backupId: string;
  /** Restore every member into this directory (engines that restore into files). */
  readonly intoDir?: string;
  /** Per-member engine-specific targets; wins over `intoDir`. */
  readonly targets?: Readonly<Record<string, RestoreTarget>>;
  readonly force?: boolean;
  /**
   * The plan as it is now (`--plan`): its hooks are the ones run (never commands read from the catalog),
   * and its members' password SOURCES (passwordEnv/passwordFile) replace the recorded ones.
   */
  readonly plan?: RestorePlanInput;
  /** Bytes each member reads from the artifact store as it restores (bytes, rate and ETA on the CLI). */
  readonly onTransfer?: TransferSink;
}

/** What a restore takes from the current plan file. */
export interface RestorePlanInput {
  readonly hooks: { readonly before: readonly string[]; readonly after: readonly string[] };
  readonly members: readonly { readonly name: string; readonly connection: StorageConfig }[];
}

export interface MemberRestorePlan {
  readonly member: string;
  readonly engine: string;
  readonly namespaces: readonly string[];
  /** Where the backup was taken from (no secrets). */
  readonly source: string;
  readonly target: RestoreTarget;
  readonly handle: RestoreHandle;
  /** The restore point in UTC (the window's mid-time, or the time handle in the database's clock). */
  readonly restorePointUtc: string;
  readonly steps: readonly RestoreStep[];
  /** The target as found before anything changes (a dry run runs it too). */
  readonly inspection: TargetInspection;
  readonly artifacts: readonly { key: string; bytes: number; sha256: string }[];
}

export interface RestorePlan {
  readonly backupId: string;
  readonly group: string;
  readonly mode: string;
  readonly window: { pausedAtUtc: string; unpauseStartedAtUtc: string; midUtc: string } | null;
  readonly artifactsLocation: string;
  /** The hooks that will run: the current plan's. */
  readonly hooks: { readonly before: readonly string[]; readonly after: readonly string[] };
  /** The hooks the backup recorded, when they differ from the plan's (shown; not run). */
  readonly recordedHooks?: { readonly before: readonly string[]; readonly after: readonly string[] };
  readonly members: readonly MemberRestorePlan[];
}

/** What the runner needs beyond the printed plan. */
export interface PlannedRestore {
  readonly plan: RestorePlan;
  readonly record: BackupRecord;
  readonly store: ArtifactStore;
  /** One open restore session per member. */
  readonly sessions: ReadonlyMap<string, RestoreSession>;
  /** Closes every session (never throws). */
  close(): Promise<void>;
}

const silent: Logger = { info: () => {}, warn: () => {} };

export async function planRestore(
  catalog: Catalog,
  request: RestoreRequest,
  signal: AbortSignal,
  log: Logger = silent,
): Promise<PlannedRestore> {
  const record = catalog.get(request.backupId);
  if (record.state !== 'complete') {
    throw new CatalogError(
      'BACKUP_NOT_RESTORABLE',
      `Backup ${record.id} is ${record.state}${record.reason ? ` (${record.reason})` : ''}, not complete.`,
      {
        context: { backupId: record.id },
        hint: 'Restore a complete backup; `stillpoint backups list` shows their states.',
      },
    );
  }
  for (const name of Object.keys(request.targets ?? {})) {
    if (!record.members.some((m) => m.name === name)) {
      throw new ConfigError(
        'RESTORE_TARGET_INVALID',
        `--target names "${name}", which is not a member of ${record.id}.`,
        {
          hint: `Members: ${record.members.map((m) => m.name).join(', ')}.`,
        },
      );
    }
  }
  const hooks = hooksToRun(record, request.plan);
  const connections = currentConnections(record, request);
  const store = openArtifactStore(record.artifactsLocation);
  const sessions = new Map<string, RestoreSession>();
  const close = async (): Promise<void> =>
    void (await Promise.allSettled([...sessions.values()].map((s) => s.close())));
  const members: MemberRestorePlan[] = [];
  try {
    for (const m of record.members) {
      if (m.handle === null)
        throw new CatalogError(
          'BACKUP_INCOMPLETE',
          `Member ${m.name} of ${record.id} has no restore handle.`,
          { context: { backupId: record.id, member: m.name } },
        );
      const requested =
        request.targets?.[m.name] ??
        (request.intoDir !== undefined ? { intoDir: request.intoDir } : undefined);
      const spec = { ...m.spec, connection: connections.get(m.name) ?? m.spec.connection };
      const { kind, options } = resolveMember(spec);
      const artifacts = record.artifacts.filter((a) => a.member === m.name);
      const memberRecord: MemberRecord = { backupId: record.id, member: spec, handle: m.handle, artifacts };
      const onTransfer = request.onTransfer;
      const session = kind.openRestore(
        {
          record: memberRecord,
          target: requested,
          log,
          ...(onTransfer === undefined
            ? { artifacts: store }
            : {
                artifacts: withProgress(store, (t) => onTransfer({ member: m.name, phase: 'restore', ...t })),
                onTransfer,
              }),
        },
        options,
      );
      sessions.set(m.name, session);
      members.push({
        member: m.name,
        engine: m.engine,
        namespaces: m.spec.namespaces,
        source: describeConnection(m.spec.connection),
        target: redactSecrets(session.target), // an inline password never leaves the process
        handle: m.handle,
        restorePointUtc: restorePoint(m.handle, record),
        steps: await session.plan(),
        inspection: await inspectSafely(session, signal),
        artifacts: artifacts.map((a) => ({ key: a.key, bytes: a.bytes, sha256: a.sha256 })),
      });
    }
  } catch (error) {
    await close();
    throw error;
  }
  const plan: RestorePlan = {
    backupId: record.id,
    group: record.group,
    mode: record.mode,
    window: record.window && {
      pausedAtUtc: utc(record.window.pausedAtMs),
      unpauseStartedAtUtc: utc(record.window.unpauseStartedAtMs),
      midUtc: utc(record.window.midMs),
    },
    artifactsLocation: record.artifactsLocation,
    ...hooks,
    members,
  };
  return { plan, record, store, sessions, close };
}

/** An inspection that could not run is a failed check (the restore is refused), not a crash of the planner. */
async function inspectSafely(session: RestoreSession, signal: AbortSignal): Promise<TargetInspection> {
  try {
    return await session.inspect(signal);
  } catch (error) {
    const e = asStillpointError(error);
    return {
      checks: [
        { name: 'inspect', ok: false, detail: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) },
      ],
      state: 'foreign',
      detail: 'the target could not be inspected',
    };
  }
}

/** Every member's connection with its current password source; every unreadable password reported at once. */
function currentConnections(record: BackupRecord, request: RestoreRequest): Map<string, StorageConfig> {
  const out = new Map<string, StorageConfig>();
  const problems: ConfigError[] = [];
  for (const m of record.members) {
    const requested = request.targets?.[m.name];
    try {
      out.set(
        m.name,
        currentPasswordSource(m.name, m.spec.connection, request.plan, hasCredentials(requested)),
      );
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(error);
    }
  }
  if (problems.length === 1 && problems[0] !== undefined) throw problems[0];
  if (problems.length > 1) {
    throw new ConfigError(
      'PASSWORD_UNAVAILABLE',
      `${problems.length} members' passwords cannot be read; nothing was changed: ${problems.map((p) => p.detail).join(' | ')}`,
      {
        context: { members: problems.map((p) => p.context.owner ?? p.context.member) },
        hint: problems
          .map((p) => p.hint)
          .filter((h) => h !== undefined)
          .join(' '),
      },
    );
  }
  return out;
}

type Hooks = RestorePlan['hooks'];

/**
 * The hooks run around the restore come from the plan file given now, never from the catalog: anyone who can
 * write the catalog could otherwise run commands at the next restore. A backup that recorded hooks needs
 * `--plan`; when the plan's differ from the recorded ones, both are shown and the plan's run.
 */
function hooksToRun(
  record: BackupRecord,
  plan: RestorePlanInput | undefined,
): { hooks: Hooks; recordedHooks?: Hooks } {
  const recorded: Hooks = { before: record.hooks.before ?? [], after: record.hooks.after ?? [] };
  const hasRecorded = recorded.before.length + recorded.after.length > 0;
  if (plan === undefined) {
    if (hasRecorded) {
      throw new ConfigError(
        'RESTORE_HOOKS_NEED_PLAN',
        `Backup ${record.id} recorded restore hooks; they are run only from the plan file, never from the catalog.`,
        {
          context: { backupId: record.id, recorded },
          hint: 'Pass --plan <file> (its restore.hooks are run). Nothing was changed.',
        },
      );
    }
    return { hooks: recorded };
  }
  const same =
    JSON.stringify(recorded) === JSON.stringify({ before: plan.hooks.before, after: plan.hooks.after });
  return {
    hooks: { before: plan.hooks.before, after: plan.hooks.after },
    ...(same || !hasRecorded ? {} : { recordedHooks: recorded }),
  };
}

/**
 * The member's connection with its password source taken from the current plan (the catalog holds only
 * sources, never values; a source may have moved since the backup). Fails before anything changes when
 * the password cannot be read: the error names the member and the variable or file.
 */
function currentPasswordSource(
  member: string,
  recorded: StorageConfig,
  plan: RestorePlanInput | undefined,
  targetHasCredentials: boolean,
): StorageConfig {
  if (recorded.kind === 'sqlite' || recorded.kind === 'dynamodb') return recorded;
  const current = plan?.members.find((m) => m.name === member)?.connection;
  const { password, passwordEnv, passwordFile, ...rest } = recorded;
  // The target brings its own user and password (--target member='{"user":…,"passwordEnv":…}').
  if (targetHasCredentials) return password === undefined ? recorded : rest;
  let connection: StorageConfig = recorded;
  if (
    current !== undefined &&
    current.kind !== 'sqlite' &&
    current.kind !== 'dynamodb' &&
    (current.passwordEnv !== undefined || current.passwordFile !== undefined)
  ) {
    connection = {
      ...rest,
      ...(current.passwordEnv === undefined ? {} : { passwordEnv: current.passwordEnv }),
      ...(current.passwordFile === undefined ? {} : { passwordFile: current.passwordFile }),
    };
  } else if (password !== undefined) {
    throw new ConfigError(
      'PASSWORD_UNAVAILABLE',
      `Member ${member}: the backup was taken with a password written in the plan, which the catalog does not keep.`,
      {
        context: { member },
        hint: `Pass --plan with member ${member}'s connection using passwordEnv or passwordFile, or give the target's credentials: --target '${member}={"user":…,"passwordEnv":…}'.`,
      },
    );
  } else if (passwordEnv === undefined && passwordFile === undefined) {
    return recorded;
  }
  resolvePassword(connection, `member ${member}`);
  return connection;
}

function hasCredentials(target: RestoreTarget | undefined): boolean {
  return target !== undefined && ['password', 'passwordEnv', 'passwordFile'].some((k) => k in target);
}

/** A connection for humans, never with secrets. */
export function describeConnection(c: StorageConfig): string {
  if (c.kind === 'dynamodb')
    return `dynamodb ${c.endpoint ?? c.region}${c.prefix ? ` prefix ${c.prefix}` : ''}`;
  if (c.kind === 'cosmos') return `cosmos ${c.endpoint}${c.prefix ? ` prefix ${c.prefix}` : ''}`;
  if (c.kind === 'cassandra') return `cassandra ${c.contactPoints.join(',')}:${c.port ?? 9042}`;
  return c.kind === 'sqlite'
    ? `sqlite ${c.path}`
    : `${c.kind} ${c.user}@${c.host}:${c.port}${c.database ? `/${c.database}` : ''}`;
}

function restorePoint(handle: RestoreHandle, record: BackupRecord): string {
  if (handle.kind === 'time') return describeHandle(handle);
  return `${describeHandle(handle)} (window mid ${record.window ? utc(record.window.midMs) : 'unknown'})`;
}

/** A restore handle for humans: where the restore will stop. */
export function describeHandle(handle: RestoreHandle): string {
  switch (handle.kind) {
    case 'time':
      return `${utc(handle.atMs)} (database clock; offset ${handle.clockOffsetMs} ms ± ${handle.uncertaintyMs} ms)`;
    case 'snapshot':
      return `snapshot ${handle.snapshotId}`;
    case 'named-point':
      return `restore point ${handle.name} at LSN ${handle.lsn}`;
    case 'log-position':
      return `binlog ${handle.file}:${handle.position}${handle.gtid ? ` (GTID ${handle.gtid})` : ''}`;
  }
}

export function utc(ms: number): string {
  return new Date(ms).toISOString();
}
