/**
 * What the managed-database engines (`rds`, `azure-flexible`) share. Backup: their capabilities (a `time`
 * handle from the service's own point-in-time recovery, clock-based, horizon wait) and the service clock
 * measured from one API round trip. Restore: a point-in-time restore there always creates a NEW server, so
 * the restore waits for it to be available and the member's connection is rewritten to the new endpoint
 * (credentials: the target's, else the member's — a point-in-time restore keeps the source's users and
 * passwords).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, EngineError } from '../errors.ts';
import type { ClockSample, EngineCapabilities, MemberSpec, TargetInspection } from './contract.ts';
import type { StorageConfig } from '../txn/contract.ts';

/** Nothing is copied inside the pause: the restore point is a time in the service's clock. */
export const MANAGED_CAPABILITIES: EngineCapabilities = Object.freeze({
  atomicCapture: false,
  snapshotInsidePause: false,
  clockBased: true,
  horizonWait: true,
});

/** Service clock minus ours from one round trip: uncertainty = half the round trip + the clock's resolution. */
export async function measureServiceClock(
  serviceTime: () => Promise<{ nowMs: number; resolutionMs: number }>,
): Promise<ClockSample> {
  const sent = Date.now();
  const { nowMs, resolutionMs } = await serviceTime();
  const received = Date.now();
  const rttMs = received - sent;
  return {
    offsetMs: Math.round(nowMs + resolutionMs / 2 - (sent + received) / 2),
    uncertaintyMs: Math.ceil(rttMs / 2 + resolutionMs),
    rttMs,
  };
}

/** Tag put on every resource a restore creates: its value is the backup id (how `inspect` knows its own). */
export const restoreTag = 'stillpoint:restore-of';

/** Persisted per restore target; `steps` grow as they finish. */
export interface ManagedRestoreState {
  readonly steps: readonly string[];
  readonly finished: boolean;
}

const FAILED = new Set([
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'inaccessible-encryption-credentials',
  'Dropping',
  'Disabled',
]);

/** Polls `describe` until the resource reads available with an endpoint; its endpoint. */
export async function waitAvailable(
  describe: () => Promise<{ status: string; endpoint?: { host: string; port: number } } | undefined>,
  what: string,
  o: { pollMs: number; timeoutMs: number; signal: AbortSignal; member: string },
): Promise<{ host: string; port: number }> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const r = await describe();
    if (r !== undefined && (r.status.toLowerCase() === 'available' || r.status === 'Ready')) {
      if (r.endpoint !== undefined) return r.endpoint;
    }
    if (r !== undefined && FAILED.has(r.status))
      throw new EngineError('RESTORE_FAILED', `${what} ended in status ${r.status}.`, {
        context: { member: o.member },
        hint: 'Read the service events of that resource, delete it, and run the restore again.',
      });
    if (Date.now() > deadline)
      throw new EngineError(
        'MANAGED_NOT_AVAILABLE',
        `${what} was not available after ${o.timeoutMs} ms (status ${r?.status ?? 'absent'}).`,
        {
          context: { member: o.member },
          hint: 'A large restore can take hours: raise availableTimeoutMs and run the restore again — it resumes waiting.',
        },
      );
    await sleep(o.pollMs, undefined, { signal: o.signal });
  }
}

/** The member's connection pointed at `endpoint`, with the target's credentials when it gives any. */
export function managedConnection(
  member: MemberSpec,
  endpoint: { host: string; port: number },
  target: { user?: string; password?: string; passwordEnv?: string; passwordFile?: string },
): StorageConfig {
  const c = member.connection;
  if (c.kind !== 'postgres' && c.kind !== 'mysql')
    throw new ConfigError(
      'PLAN_INVALID',
      `Member ${member.name}: a managed database member needs a postgres or mysql connection.`,
      {
        context: { member: member.name },
      },
    );
  const secret =
    target.password !== undefined
      ? { password: target.password }
      : target.passwordEnv !== undefined
        ? { passwordEnv: target.passwordEnv }
        : target.passwordFile !== undefined
          ? { passwordFile: target.passwordFile }
          : undefined;
  const { password, passwordEnv, passwordFile, ...rest } = c;
  const kept = secret ?? {
    ...(password === undefined ? {} : { password }),
    ...(passwordEnv === undefined ? {} : { passwordEnv }),
    ...(passwordFile === undefined ? {} : { passwordFile }),
  };
  return {
    ...rest,
    ...kept,
    host: endpoint.host,
    port: endpoint.port,
    ...(target.user === undefined ? {} : { user: target.user }),
  };
}

/** What {@link inspectNewResource} needs to know of one managed restore target. */
export interface NewResourceTarget {
  /** The target's name (instance, cluster or server). */
  readonly name: string;
  /** The service, as the checks name it ('RDS', 'Azure'). */
  readonly service: string;
  readonly isLiveSource: boolean;
  /** The target as the service describes it now, undefined when it does not exist. */
  readonly describe: () => Promise<{ readonly restoreOf: string | undefined } | undefined>;
  readonly backupId: string;
  readonly state: ManagedRestoreState;
  /** Hints: for a live source, for an unreachable service, and what to name instead ('Name another server'). */
  readonly hints: { readonly liveSource: string; readonly unreachable: string; readonly another: string };
}

/**
 * The state of a restore target on a service that restores only into NEW resources: the live source
 * (refused), absent, ours and finished or unfinished (by the restore tag and the persisted steps), or
 * someone else's.
 */
export async function inspectNewResource(t: NewResourceTarget): Promise<TargetInspection> {
  if (t.isLiveSource)
    return {
      checks: [],
      state: 'live-source',
      detail: `${t.name} is the member's live source`,
      hint: t.hints.liveSource,
    };
  let existing: { readonly restoreOf: string | undefined } | undefined;
  try {
    existing = await t.describe();
  } catch (error) {
    return {
      checks: [
        {
          name: `${t.service} reachable`,
          ok: false,
          detail: (error as Error).message,
          hint: t.hints.unreachable,
        },
      ],
      state: 'absent',
      detail: `${t.service} did not answer`,
    };
  }
  if (existing === undefined)
    return t.state.steps.length > 0
      ? {
          checks: [],
          state: 'in-progress',
          detail: `an earlier restore into ${t.name} stopped part-way; it resumes`,
        }
      : { checks: [], state: 'absent', detail: `${t.name} does not exist` };
  if (existing.restoreOf !== t.backupId)
    return {
      checks: [],
      state: 'foreign',
      detail: `${t.name} exists and is not a restore of this backup`,
      hint: `${t.hints.another}, or delete it.`,
    };
  return t.state.finished
    ? {
        checks: [],
        state: 'restored',
        detail: `${t.name} is a finished restore of this backup`,
        hint: `${t.hints.another}, or pass --force to reuse it as it is now.`,
      }
    : {
        checks: [],
        state: 'in-progress',
        detail: `${t.name} is an unfinished restore of this backup; it resumes`,
      };
}
