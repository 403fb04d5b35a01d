/**
 * The restore planner: what `stillpoint restore <id> --dry-run` prints. For each member: where it came
 * from, where it goes, its restore handle, the engine's steps, the target's inspection (reachable,
 * credentials, absent / empty / leftover / foreign / live source), and every time in explicit UTC.
 * Planning has no side effects; it opens one engine restore session per member, which the caller closes
 * ({@link PlannedRestore.close}).
 */
import { createLocalDirStore } from '../artifacts/local-dir-store.ts';
import type { ArtifactStore } from '../artifacts/contract.ts';
import type { BackupRecord, Catalog } from '../catalog/catalog.ts';
import type { Logger, MemberRecord, RestoreHandle, RestoreSession, RestoreStep, RestoreTarget, TargetInspection } from '../engines/contract.ts';
import { resolveMember } from '../engines/registry.ts';
import { CatalogError, ConfigError } from '../errors.ts';
import type { StorageConfig } from '../txn/contract.ts';

export interface RestoreRequest {
  readonly backupId: string;
  /** Restore every member into this directory (engines that restore into files). */
  readonly intoDir?: string;
  /** Per-member engine-specific targets; wins over `intoDir`. */
  readonly targets?: Readonly<Record<string, RestoreTarget>>;
  readonly force?: boolean;
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
  readonly hooks: { readonly before: readonly string[]; readonly after: readonly string[] };
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

export async function planRestore(catalog: Catalog, request: RestoreRequest, signal: AbortSignal, log: Logger = silent): Promise<PlannedRestore> {
  const record = catalog.get(request.backupId);
  if (record.state !== 'complete') {
    throw new CatalogError('BACKUP_NOT_RESTORABLE', `Backup ${record.id} is ${record.state}${record.reason ? ` (${record.reason})` : ''}, not complete.`, {
      context: { backupId: record.id },
      hint: 'Restore a complete backup; `stillpoint backups list` shows their states.',
    });
  }
  for (const name of Object.keys(request.targets ?? {})) {
    if (!record.members.some((m) => m.name === name)) {
      throw new ConfigError('RESTORE_TARGET_INVALID', `--target names "${name}", which is not a member of ${record.id}.`, {
        hint: `Members: ${record.members.map((m) => m.name).join(', ')}.`,
      });
    }
  }
  const store = createLocalDirStore(record.artifactsLocation);
  const sessions = new Map<string, RestoreSession>();
  const close = async (): Promise<void> => void (await Promise.allSettled([...sessions.values()].map((s) => s.close())));
  const members: MemberRestorePlan[] = [];
  try {
    for (const m of record.members) {
      if (m.handle === null) throw new CatalogError('BACKUP_INCOMPLETE', `Member ${m.name} of ${record.id} has no restore handle.`, { context: { backupId: record.id, member: m.name } });
      const { kind, options } = resolveMember(m.spec);
      const artifacts = record.artifacts.filter((a) => a.member === m.name);
      const memberRecord: MemberRecord = { backupId: record.id, member: m.spec, handle: m.handle, artifacts };
      const requested = request.targets?.[m.name] ?? (request.intoDir !== undefined ? { intoDir: request.intoDir } : undefined);
      const session = kind.openRestore({ record: memberRecord, target: requested, artifacts: store, log }, options);
      sessions.set(m.name, session);
      members.push({
        member: m.name,
        engine: m.engine,
        namespaces: m.spec.namespaces,
        source: describeConnection(m.spec.connection),
        target: redactTarget(session.target),
        handle: m.handle,
        restorePointUtc: restorePoint(m.handle, record),
        steps: await session.plan(),
        inspection: await session.inspect(signal),
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
    hooks: { before: record.hooks.before ?? [], after: record.hooks.after ?? [] },
    members,
  };
  return { plan, record, store, sessions, close };
}

/** A target for printing and the catalog: an inline password never leaves the process. */
function redactTarget(target: RestoreTarget): RestoreTarget {
  return 'password' in target && target.password !== undefined ? { ...target, password: '***' } : target;
}

/** A connection for humans, never with secrets. */
export function describeConnection(c: StorageConfig): string {
  return c.kind === 'sqlite' ? `sqlite ${c.path}` : `${c.kind} ${c.user}@${c.host}:${c.port}${c.database ? `/${c.database}` : ''}`;
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
