/**
 * The member fan-outs of a backup (./backup.ts runs them in order): preflight and prepare, capture inside
 * the pause (stage by stage, the Coordinator's member first), finish, and the horizon wait. Each settles
 * every member, records each member's outcome in the catalog and as an event, and fails the step with one
 * {@link StepFailure} naming every member that failed.
 */
import { performance } from 'node:perf_hooks';
import type { Catalog } from '../catalog/catalog.ts';
import type { BackupSession, CaptureResult, ClockSample } from '../engines/contract.ts';
import type { ResolvedMember } from '../engines/registry.ts';
import { linkSignals } from '../engines/settle.ts';
import { EngineError, asStillpointError } from '../errors.ts';
import type { Plan } from '../plan/load-plan.ts';
import type { EventSink } from './events.ts';
import { captureStage } from './modes.ts';

export interface PlannedMember extends ResolvedMember {
  readonly session: BackupSession;
}

export interface Captured {
  readonly member: PlannedMember;
  readonly capture: CaptureResult;
  readonly clock?: ClockSample;
}

export interface AttemptOutcome {
  readonly captures: Captured[];
  readonly window: { pausedAtMs: number; unpauseStartedAtMs: number; midMs: number };
  readonly problems: string[];
}

/** A step failed: carries the reason code recorded in the catalog. */
export class StepFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the fan-outs need of the run: its id, catalog, events, members and limits. */
export interface MemberPhaseContext {
  readonly id: string;
  readonly plan: Plan;
  readonly catalog: Catalog;
  readonly sink: EventSink;
  /** The run's signal (aborting ends the backup). */
  readonly signal: AbortSignal;
  readonly members: readonly PlannedMember[];
  readonly failpoints: {
    readonly beforeCapture?: (member: string, signal: AbortSignal) => void | Promise<void>;
  };
  /** Longest the finish phase may take for all members together (default 30 min). */
  readonly finishTimeoutMs?: number;
  /** Longest wait for every member's horizon (default 30 min). */
  readonly horizonTimeoutMs?: number;
  memberState(
    m: PlannedMember,
    state: string,
    event: { step: 'preflight' | 'released' | 'failed'; error?: string },
  ): void;
  log(level: 'info' | 'warn', message: string, fields?: Record<string, unknown>): void;
}

export async function preflightAll(ctx: MemberPhaseContext): Promise<void> {
  const failures: string[] = [];
  await Promise.allSettled(
    ctx.members.map(async (m) => {
      let error: string;
      try {
        const bad = (await m.session.preflight(ctx.signal)).filter((c) => !c.ok);
        error = bad.map((c) => `${c.name}: ${c.detail}${c.hint ? ` (${c.hint})` : ''}`).join('; ');
      } catch (cause) {
        error = asStillpointError(cause).message;
      }
      if (error !== '') failures.push(`${m.spec.name}: ${error}`);
      ctx.memberState(m, error !== '' ? 'failed' : 'ready', {
        step: 'preflight',
        ...(error !== '' ? { error } : {}),
      });
    }),
  );
  if (failures.length > 0) throw new StepFailure('PREFLIGHT_FAILED', failures.join('; '));
  // Every member's prepare settles (a failed one does not leave the others running), then per-member report.
  const prepared = await Promise.allSettled(ctx.members.map((m) => m.session.prepare(ctx.signal)));
  const failed = prepared.flatMap((r, i) =>
    r.status === 'rejected' ? [{ m: ctx.members[i]!, error: asStillpointError(r.reason) }] : [],
  );
  for (const f of failed)
    ctx.memberState(f.m, 'failed', { step: 'failed', error: `prepare: ${f.error.message}` });
  if (failed.length > 0)
    throw new StepFailure(
      'PREPARE_FAILED',
      failed.map((f) => `${f.m.spec.name}: ${f.error.message}`).join('; '),
    );
}

export async function captureAll(ctx: MemberPhaseContext): Promise<Captured[]> {
  // A capture stuck on a dead database path would otherwise hold the whole cluster paused (the lease is renewed
  // while the orchestrator lives): past the plan's window.captureTimeoutMs the attempt fails, the cluster is
  // unpaused, late captures are released when they end, and engines see the capture's signal aborted.
  const limitMs = ctx.plan.window.captureTimeoutMs;
  const signal = linkSignals(ctx.signal, AbortSignal.timeout(limitMs));
  const captured = new Set<PlannedMember>();
  // Stage by stage (captureStage: the Coordinator's member first); within a stage, all at once.
  const byMember = new Map<PlannedMember, Promise<Captured>>();
  let previous: Promise<unknown> = Promise.resolve();
  for (const stage of [...new Set(ctx.members.map((m) => captureStage(m.spec.namespaces)))].sort(
    (x, y) => x - y,
  )) {
    const after = previous;
    const inStage = ctx.members
      .filter((m) => captureStage(m.spec.namespaces) === stage)
      .map((m) => {
        const p = after.then(() => {
          signal.throwIfAborted();
          return captureOne(ctx, m, signal);
        });
        byMember.set(m, p);
        return p;
      });
    previous = Promise.allSettled(inStage);
  }
  const pending = ctx.members.map((m) =>
    byMember.get(m)!.then((c) => {
      captured.add(m);
      return c;
    }),
  );
  const results = await allSettledUnlessAborted(pending, signal);
  if (results === undefined) {
    // Released whenever they end (a late one too); the caller unpauses now.
    for (const p of pending)
      void p.then(
        (c) => c.member.session.discard(),
        () => undefined,
      );
    const late = ctx.members.filter((m) => !captured.has(m));
    for (const m of ctx.members) {
      if (captured.has(m)) ctx.memberState(m, 'released', { step: 'released' });
      else
        ctx.memberState(m, 'failed', {
          step: 'failed',
          error: `capture did not end within ${limitMs} ms`,
        });
    }
    throw new StepFailure(
      'CAPTURE_TIMEOUT',
      `capture of ${late.map((m) => m.spec.name).join(', ')} did not end within ${limitMs} ms; the cluster was unpaused`,
    );
  }
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ member: ctx.members[i]!, error: asStillpointError(r.reason) }] : [],
  );
  if (failed.length === 0) return ok;
  await discardAll(ok);
  for (const c of ok) ctx.memberState(c.member, 'released', { step: 'released' });
  for (const f of failed) ctx.memberState(f.member, 'failed', { step: 'failed', error: f.error.message });
  throw new StepFailure(
    'CAPTURE_FAILED',
    failed.map((f) => `${f.member.spec.name}: ${f.error.message}`).join('; '),
  );
}

async function captureOne(ctx: MemberPhaseContext, m: PlannedMember, signal: AbortSignal): Promise<Captured> {
  await ctx.failpoints.beforeCapture?.(m.spec.name, signal);
  const started = performance.now();
  let clock: ClockSample | undefined;
  if (m.capabilities.clockBased) {
    if (m.session.measureClock === undefined) {
      throw new EngineError(
        'CLOCK_UNMEASURABLE',
        `Engine ${m.kind.kind} is clock-based but cannot measure its clock.`,
        { context: { member: m.spec.name } },
      );
    }
    clock = await m.session.measureClock(signal);
  }
  const capture = await m.session.capture(signal);
  const ms = performance.now() - started;
  ctx.catalog.updateMember(ctx.id, m.spec.name, {
    state: 'captured',
    captureMs: ms,
    ...(capture.handle ? { handle: capture.handle } : {}),
  });
  ctx.sink({ type: 'member', backupId: ctx.id, member: m.spec.name, step: 'captured', ms });
  return { member: m, capture, ...(clock === undefined ? {} : { clock }) };
}

export async function finishAll(ctx: MemberPhaseContext, outcome: AttemptOutcome): Promise<void> {
  // A finish that never ends (a dead artifact path) must not hold the run: past the deadline the run fails,
  // and the finally closes every session (which aborts what is still running).
  const limitMs = ctx.finishTimeoutMs ?? 30 * 60_000;
  const deadline = AbortSignal.timeout(limitMs);
  const signal = linkSignals(ctx.signal, deadline);
  const settled = await allSettledUnlessAborted(
    outcome.captures.map(async (c) => {
      const window = { ...outcome.window, ...(c.clock ? { clock: c.clock } : {}) };
      const finished = await c.member.session.finish(window, signal);
      ctx.catalog.recordArtifacts(ctx.id, c.member.spec.name, finished.artifacts);
      ctx.catalog.updateMember(ctx.id, c.member.spec.name, {
        state: 'finished',
        handle: finished.handle,
        bytes: finished.bytes,
      });
      ctx.sink({
        type: 'member',
        backupId: ctx.id,
        member: c.member.spec.name,
        step: 'finished',
        bytes: finished.bytes,
      });
    }),
    signal,
  );
  if (settled === undefined) {
    for (const c of outcome.captures)
      ctx.memberState(c.member, 'failed', {
        step: 'failed',
        error: `finish did not end within ${limitMs} ms`,
      });
    if (ctx.signal.aborted) throw new StepFailure('ABORTED', 'the backup was aborted while finishing');
    throw new StepFailure(
      'FINISH_TIMEOUT',
      `finish did not end within ${limitMs} ms (finishTimeoutMs); the cluster was already unpaused`,
    );
  }
  const failed = settled.flatMap((r, i) =>
    r.status === 'rejected' ? [{ c: outcome.captures[i]!, error: asStillpointError(r.reason) }] : [],
  );
  if (failed.length === 0) return;
  await discardAll(outcome.captures);
  for (const f of failed) ctx.memberState(f.c.member, 'failed', { step: 'failed', error: f.error.message });
  throw new StepFailure(
    'FINISH_FAILED',
    failed.map((f) => `${f.c.member.spec.name}: ${f.error.message}`).join('; '),
  );
}

export async function waitHorizons(ctx: MemberPhaseContext): Promise<void> {
  const waiting = ctx.members.filter((m) => m.capabilities.horizonWait);
  if (waiting.length === 0) return;
  const timeout = AbortSignal.timeout(ctx.horizonTimeoutMs ?? 30 * 60_000);
  const signal = linkSignals(ctx.signal, timeout);
  const record = ctx.catalog.get(ctx.id);
  const results = await Promise.allSettled(
    waiting.map(async (m) => {
      const handle = record.members.find((x) => x.name === m.spec.name)?.handle;
      if (!handle) return;
      const started = performance.now();
      ctx.log('info', `waiting for ${m.spec.name} to become restorable`, { member: m.spec.name });
      await m.session.horizon(handle, signal);
      ctx.sink({
        type: 'member',
        backupId: ctx.id,
        member: m.spec.name,
        step: 'horizon',
        ms: performance.now() - started,
      });
    }),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ m: waiting[i]!, error: asStillpointError(r.reason) }] : [],
  );
  if (failed.length === 0) return;
  for (const f of failed)
    ctx.memberState(f.m, 'failed', {
      step: 'failed',
      error: `horizon: ${timeout.aborted ? 'did not become restorable in time' : f.error.message}`,
    });
  const names = failed.map((f) => f.m.spec.name).join(', ');
  if (timeout.aborted) throw new StepFailure('HORIZON_TIMEOUT', `${names} did not become restorable in time`);
  throw new StepFailure(
    'HORIZON_FAILED',
    failed.map((f) => `${f.m.spec.name}: ${f.error.message}`).join('; '),
  );
}

/** Drops captures that will not be finished (discard never throws). */
export async function discardAll(captures: readonly Captured[]): Promise<void> {
  await Promise.allSettled(captures.map((c) => c.member.session.discard()));
}

/** Every promise settled, or `undefined` as soon as `signal` aborts (the promises keep running). */
function allSettledUnlessAborted<T>(
  promises: readonly Promise<T>[],
  signal: AbortSignal,
): Promise<PromiseSettledResult<T>[] | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    void Promise.allSettled(promises).then((results) => {
      signal.removeEventListener('abort', onAbort);
      resolve(results);
    });
  });
}
