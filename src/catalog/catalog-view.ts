/**
 * What an operator asks of the catalog, computed from its contract (./catalog.ts) alone: the backup
 * timeline, one backup in full, the consistent PITR window of each group, RPO and pause health. Pure
 * functions over records and events, shared by the JSON API (../serve/server.ts) and the Prometheus metrics
 * (../metrics/catalog-metrics.ts), so the dashboard, the API and the metrics can never disagree.
 */
import type { BackupRecord, Catalog, CatalogEvent } from './catalog.ts';
import { PAUSE_HELD_STATES, TERMINAL_STATES } from './catalog-schema.ts';

export interface TimelineRow {
  readonly id: string;
  readonly group: string;
  readonly mode: string;
  readonly state: string;
  /** The failure or invalidity reason, `CODE: message`. */
  readonly reason: string | null;
  readonly createdAt: string;
  readonly pausedAtMs: number | null;
  readonly windowMs: number | null;
  readonly drainMs: number | null;
  /** Restore point (window mid-time), epoch ms. */
  readonly pointMs: number | null;
  readonly bytes: number;
  /** Creation to the last state change, for a finished backup. */
  readonly durationMs: number | null;
  readonly attempts: number;
  readonly verified: boolean;
}

/** A backup counts for RPO and the PITR window only when complete AND verified (see {@link isVerified}). */
export interface Verification {
  readonly verified: boolean;
  /** Why not, when not verified. */
  readonly why: string | null;
  /** The last `backups verify` or restore drill recorded for it. */
  readonly lastCheck: { readonly type: string; readonly ok: boolean; readonly ts: string } | null;
}

/**
 * Verified = complete, its last pause-window check valid, its rows agreeing with its logged events, and no
 * later `backups verify` or restore drill that failed. A complete backup whose artifacts were later found
 * damaged is not a restore point an operator can count on, so it leaves the RPO and the window.
 */
export function verification(
  record: BackupRecord,
  events: readonly CatalogEvent[],
  catalog?: Catalog,
): Verification {
  const checks = events.filter((e) => e.type === 'verified' || e.type === 'restore-finished');
  const last = checks.at(-1);
  const lastCheck =
    last === undefined
      ? null
      : { type: last.type, ok: (last.data as { ok?: boolean }).ok === true, ts: last.ts };
  const no = (why: string): Verification => ({ verified: false, why, lastCheck });
  if (record.state !== 'complete') return no(`state is ${record.state}`);
  const windows = events.filter((e) => e.type === 'window');
  const lastWindow = windows.at(-1)?.data as { valid?: boolean } | undefined;
  if (lastWindow !== undefined && lastWindow.valid !== true) return no('its last pause window was invalid');
  const problems = catalog?.verifyRecordAgainstLog(record.id) ?? [];
  if (problems.length > 0) return no(`record disagrees with its log: ${problems[0]}`);
  if (lastCheck !== null && !lastCheck.ok) return no(`the last ${lastCheck.type} failed`);
  return { verified: true, why: null, lastCheck };
}

const pointOf = (b: BackupRecord): number | null => b.window?.midMs ?? null;

function durationOf(b: BackupRecord): number | null {
  if (!(TERMINAL_STATES as readonly string[]).includes(b.state)) return null;
  return Date.parse(b.updatedAt) - Date.parse(b.createdAt);
}

export function timelineRow(b: BackupRecord, verified: boolean): TimelineRow {
  return {
    id: b.id,
    group: b.group,
    mode: b.mode,
    state: b.state,
    reason: b.reason,
    createdAt: b.createdAt,
    pausedAtMs: b.window?.pausedAtMs ?? null,
    windowMs: b.window ? b.window.unpauseStartedAtMs - b.window.pausedAtMs : null,
    drainMs: b.drainMs,
    pointMs: pointOf(b),
    bytes: b.members.reduce((n, m) => n + (m.bytes ?? 0), 0),
    durationMs: durationOf(b),
    attempts: b.attempts,
    verified,
  };
}

export interface MemberRange {
  readonly member: string;
  readonly fromMs: number;
  readonly toMs: number;
}

export interface PitrGap {
  readonly fromMs: number;
  readonly toMs: number;
  /** The backups that should have given a point here and did not (failed or invalid), with their reason. */
  readonly missed: readonly {
    readonly backupId: string;
    readonly state: string;
    readonly reason: string | null;
  }[];
}

export interface PitrWindow {
  readonly group: string;
  /** The consistent window: every member restorable to each point in it; null when there is none. */
  readonly fromMs: number | null;
  readonly toMs: number | null;
  /** The consistent restore points inside the window (verified backups' window mid-times), oldest first. */
  readonly points: readonly { readonly backupId: string; readonly atMs: number }[];
  readonly members: readonly MemberRange[];
  readonly gaps: readonly PitrGap[];
}

/**
 * The consistent PITR window of one group: the intersection of every member's restorable range. A member is
 * restorable from its oldest to its newest verified restore point (a consistent cut across databases exists
 * only at a pause window, so the points are the verified backups' window mid-times). Between two
 * consecutive points, a failed or invalid backup is a gap: the schedule meant a point there and none exists.
 */
export function pitrWindow(
  group: string,
  records: readonly BackupRecord[],
  verified: ReadonlySet<string>,
): PitrWindow {
  const mine = records.filter((b) => b.group === group);
  const good = mine.filter((b) => verified.has(b.id) && pointOf(b) !== null);
  const memberNames = [...new Set(mine.flatMap((b) => b.members.map((m) => m.name)))].sort();
  const members: MemberRange[] = [];
  for (const member of memberNames) {
    const at = good
      .filter((b) => b.members.some((m) => m.name === member && m.handle !== null))
      .map((b) => pointOf(b)!);
    if (at.length > 0) members.push({ member, fromMs: Math.min(...at), toMs: Math.max(...at) });
  }
  const complete = members.length === memberNames.length && members.length > 0;
  const fromMs = complete ? Math.max(...members.map((m) => m.fromMs)) : null;
  const toMs = complete ? Math.min(...members.map((m) => m.toMs)) : null;
  if (fromMs === null || toMs === null || fromMs > toMs) {
    return { group, fromMs: null, toMs: null, points: [], members, gaps: [] };
  }
  const points = good
    .map((b) => ({ backupId: b.id, atMs: pointOf(b)! }))
    .filter((p) => p.atMs >= fromMs && p.atMs <= toMs)
    .sort((a, b) => a.atMs - b.atMs);
  const gaps: PitrGap[] = [];
  for (let i = 1; i < points.length; i++) {
    const from = points[i - 1]!.atMs;
    const to = points[i]!.atMs;
    const missed = mine
      .filter(
        (b) =>
          b.state === 'failed' || b.state === 'invalid' || (b.state === 'complete' && !verified.has(b.id)),
      )
      .filter((b) => {
        const t = pointOf(b) ?? Date.parse(b.createdAt);
        return t > from && t < to;
      })
      .map((b) => ({ backupId: b.id, state: b.state, reason: b.reason }));
    if (missed.length > 0) gaps.push({ fromMs: from, toMs: to, missed });
  }
  return { group, fromMs, toMs, points, members, gaps };
}

export interface GroupRpo {
  readonly group: string;
  /** The newest complete and verified backup, or null when the group has none. */
  readonly backupId: string | null;
  readonly pointMs: number | null;
  /** Seconds from that backup's restore point to `nowMs`; null when there is none (infinite). */
  readonly rpoSeconds: number | null;
}

export function groupRpo(
  group: string,
  records: readonly BackupRecord[],
  verified: ReadonlySet<string>,
  nowMs: number,
): GroupRpo {
  const newest = records
    .filter((b) => b.group === group && verified.has(b.id))
    .map((b) => ({ id: b.id, at: pointOf(b) ?? Date.parse(b.updatedAt) }))
    .sort((a, b) => b.at - a.at)[0];
  if (newest === undefined) return { group, backupId: null, pointMs: null, rpoSeconds: null };
  return {
    group,
    backupId: newest.id,
    pointMs: newest.at,
    rpoSeconds: Math.max(0, (nowMs - newest.at) / 1000),
  };
}

export interface PauseHealth {
  /** Backups holding (or last known to hold) a pause now, with how long and their lease. */
  readonly heldNow: readonly {
    backupId: string;
    group: string;
    state: string;
    heldMs: number;
    leaseMs: number;
  }[];
  /** Failed pauses whose paused targets were rolled back (unpaused). */
  readonly rollbacks: readonly { backupId: string; reason: string | null }[];
  /** Unpauses not confirmed (targets may have stayed paused until their lease expired). */
  readonly unpauseFailures: readonly { backupId: string; reason: string | null }[];
  /** Pause windows judged invalid: a lease that expired inside it, a membership change, a short window. */
  readonly invalidWindows: readonly { backupId: string; problems: readonly string[] }[];
  readonly membershipChanges: readonly { backupId: string; problem: string }[];
  readonly leaseExpiries: readonly { backupId: string; problem: string }[];
}

export function pauseHealth(
  records: readonly BackupRecord[],
  events: readonly CatalogEvent[],
  nowMs: number,
): PauseHealth {
  const heldNow = records
    .filter((b) => (PAUSE_HELD_STATES as readonly string[]).includes(b.state) && b.window === null)
    .map((b) => {
      const paused = events.filter(
        (e) => e.backupId === b.id && e.type === 'state' && (e.data as { state?: string }).state === 'paused',
      );
      const since = paused.length > 0 ? Date.parse(paused.at(-1)!.ts) : Date.parse(b.updatedAt);
      return {
        backupId: b.id,
        group: b.group,
        state: b.state,
        heldMs: Math.max(0, nowMs - since),
        leaseMs: Math.max(0, ...b.targets.map((t) => t.leaseMs)),
      };
    });
  const code = (b: BackupRecord): string => (b.reason ?? '').split(':')[0] ?? '';
  const failedWith = (codes: readonly string[]) =>
    records.filter((b) => codes.includes(code(b))).map((b) => ({ backupId: b.id, reason: b.reason }));
  const invalidWindows = events
    .filter(
      (e) => e.type === 'window' && (e.data as { valid?: boolean }).valid === false && e.backupId !== null,
    )
    .map((e) => ({ backupId: e.backupId!, problems: (e.data as { problems?: string[] }).problems ?? [] }));
  const problems = invalidWindows.flatMap((w) =>
    w.problems.map((problem) => ({ backupId: w.backupId, problem })),
  );
  return {
    heldNow,
    rollbacks: failedWith(['PAUSE_FAILED', 'PAUSE_PARTIAL', 'PAUSE_TIMEOUT']),
    unpauseFailures: failedWith(['UNPAUSE_FAILED']),
    invalidWindows,
    membershipChanges: problems.filter((p) => /membership/i.test(p.problem)),
    leaseExpiries: problems.filter((p) => /lease|expir/i.test(p.problem)),
  };
}

/** Everything the dashboard shows, read once from the catalog. */
export interface CatalogSnapshot {
  readonly nowMs: number;
  readonly groups: readonly string[];
  readonly timeline: readonly TimelineRow[];
  readonly pitr: readonly PitrWindow[];
  readonly rpo: readonly GroupRpo[];
  readonly pauseHealth: PauseHealth;
  /** Per-backup verification, by id. */
  readonly verification: Readonly<Record<string, Verification>>;
  /** The `verified` and `restore-finished` events, for the verify-result metrics. */
  readonly checks: readonly { backupId: string; group: string; type: string; ok: boolean }[];
  readonly records: readonly BackupRecord[];
}

export function snapshot(catalog: Catalog, nowMs = Date.now()): CatalogSnapshot {
  const records = catalog.list();
  const events = catalog.events();
  const byBackup = new Map<string, CatalogEvent[]>();
  for (const e of events)
    if (e.backupId !== null)
      (byBackup.get(e.backupId) ?? byBackup.set(e.backupId, []).get(e.backupId)!).push(e);
  const ver: Record<string, Verification> = {};
  for (const b of records) ver[b.id] = verification(b, byBackup.get(b.id) ?? [], catalog);
  const verified = new Set(records.filter((b) => ver[b.id]!.verified).map((b) => b.id));
  const groups = [...new Set(records.map((b) => b.group))].sort();
  const groupOf = new Map(records.map((b) => [b.id, b.group]));
  const checks = events
    .filter(
      (e) =>
        (e.type === 'verified' || e.type === 'restore-finished') &&
        e.backupId !== null &&
        groupOf.has(e.backupId),
    )
    .map((e) => ({
      backupId: e.backupId!,
      group: groupOf.get(e.backupId!)!,
      type: e.type,
      ok: (e.data as { ok?: boolean }).ok === true,
    }));
  return {
    nowMs,
    groups,
    timeline: records.map((b) => timelineRow(b, verified.has(b.id))),
    pitr: groups.map((g) => pitrWindow(g, records, verified)),
    rpo: groups.map((g) => groupRpo(g, records, verified, nowMs)),
    pauseHealth: pauseHealth(records, events, nowMs),
    verification: ver,
    checks,
    records,
  };
}
