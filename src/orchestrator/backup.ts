/**
 * The backup state machine (docs/decisions/0003-orchestrator-state-machine.md):
 *
 *   planned → preflight → pausing → paused → captured → unpausing → validating → finishing → complete
 *                                                                        ↘ (invalid window: retry from pausing)
 *   any step → failed;  windows still invalid after `window.maxAttempts` → invalid
 *
 * Each state is written to the catalog before the step it announces. Unpause is in a `finally` of every
 * attempt, so a failed capture, an abort (SIGINT/SIGTERM in the CLI) or a bug never leaves a cluster
 * paused; if this process dies instead, the pause lease unpauses the servers and {@link resumeIncomplete}
 * (./recovery.ts) classifies the backup on the next run.
 *
 * Each member gets one engine session for the whole run (opened after the catalog entry exists); every
 * session is closed in the run's single `finally`, whatever happened (Promise.allSettled, bounded by each
 * session's close). The fan-outs (preflight, prepare, capture, finish, horizon) live in ./member-phases.ts:
 * each settles every member and reports per member. Finish has a deadline (`finishTimeoutMs`).
 *
 * `runBackup` never throws once the catalog entry exists: it returns a per-member result set.
 */
import { writeManifest } from '../catalog/manifest.ts';
import { openArtifactStore } from '../artifacts/open-store.ts';
import type { ArtifactStore } from '../artifacts/contract.ts';
import { withProgress } from '../artifacts/progress-store.ts';
import type { Catalog } from '../catalog/catalog.ts';
import type { BackupMode, BackupState } from '../catalog/catalog-schema.ts';
import type { BackupSessionContext, RestoreHandle, TransferSink } from '../engines/contract.ts';
import { resolveMember, type ResolvedMember } from '../engines/registry.ts';
import { StillpointError, asStillpointError } from '../errors.ts';
import type { Plan } from '../plan/load-plan.ts';
import { defaultPauseDeps } from './deps.ts';
import { loggerFor, type EventSink } from './events.ts';
import { chooseMode, requiredWindowMs, sleep } from './modes.ts';
import { ownershipFor, startHeartbeat, type Heartbeat } from './ownership.ts';
import {
  captureAll,
  discardAll,
  finishAll,
  preflightAll,
  StepFailure,
  waitHorizons,
  type AttemptOutcome,
  type Captured,
  type MemberPhaseContext,
  type PlannedMember,
} from './member-phases.ts';
import {
  checkMembershipAfter,
  checkValidity,
  closeSessions,
  pauseClusters,
  resolveClusters,
  unpauseClusters,
  unpauseFailure,
  leaseWarnings,
  type ClusterSession,
  type PauseDeps,
} from './pause-phase.ts';

export interface BackupOptions {
  readonly plan: Plan;
  readonly catalog: Catalog;
  /** Aborting ends the backup as `failed` (reason ABORTED) after unpausing. */
  readonly signal?: AbortSignal;
  readonly onEvent?: EventSink;
  readonly deps?: Partial<PauseDeps>;
  /** Fault injection for tests and the trials (typed hooks; never read from the environment). */
  readonly failpoints?: BackupFailpoints;
  /** Longest wait for every member's horizon (default 30 min). */
  readonly horizonTimeoutMs?: number;
  /** The artifact store (default: opened from the plan's artifacts location by openArtifactStore). */
  readonly store?: ArtifactStore;
  /** Longest the finish phase may take for all members together (default 30 min); past it the backup fails FINISH_TIMEOUT. */
  readonly finishTimeoutMs?: number;
}

/**
 * Hooks the tests and the trials use to inject faults at a step boundary. A hook may throw (the step fails as
 * if the engine had), never settle (a database path gone silent), or end the process (a crash).
 */
export interface BackupFailpoints {
  /** Every cluster is paused; no capture has started. */
  readonly afterPause?: () => void | Promise<void>;
  /** Before one member's capture, inside the pause. */
  readonly beforeCapture?: (member: string, signal: AbortSignal) => void | Promise<void>;
}

export interface MemberResult {
  readonly name: string;
  readonly engine: string;
  readonly state: string;
  readonly handle: RestoreHandle | null;
  readonly bytes: number | null;
  readonly captureMs: number | null;
  readonly error: string | null;
}

export interface BackupResult {
  readonly backupId: string;
  readonly state: BackupState;
  readonly reason: string | null;
  /** What to do next about a failure (the failing step's hint), when it gave one. */
  readonly hint: string | null;
  readonly mode: BackupMode;
  readonly attempts: number;
  readonly window: { pausedAtMs: number; unpauseStartedAtMs: number; midMs: number } | null;
  readonly drainMs: number | null;
  readonly members: readonly MemberResult[];
}

/**
 * Takes one backup of the plan's group. Throws only ConfigError (a plan that cannot work: unknown engine,
 * impossible mode) before anything is written or paused; otherwise returns the result.
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const members = options.plan.members.map(resolveMember);
  const mode = chooseMode(
    options.plan,
    members.map((m) => ({ name: m.spec.name, capabilities: m.capabilities })),
  );
  return new BackupRun(options, members, mode).run();
}

class BackupRun {
  private readonly id: string;
  private readonly store: ArtifactStore;
  private readonly signal: AbortSignal;
  private readonly sink: EventSink;
  private readonly deps: PauseDeps;
  private readonly failpoints: BackupFailpoints;
  private attempt = 0;
  private failureHint: string | null = null;
  private state: BackupState = 'planned';
  private readonly heartbeat: Heartbeat; // renewed for the whole run, stopped in run()'s finally
  private readonly members: readonly PlannedMember[];
  /** What the member fan-outs (./member-phases.ts) see of this run. */
  private readonly phases: MemberPhaseContext;

  constructor(
    private readonly options: BackupOptions,
    resolved: readonly ResolvedMember[],
    private readonly mode: BackupMode,
  ) {
    this.store = options.store ?? openArtifactStore(options.plan.artifactsDir);
    this.signal = options.signal ?? new AbortController().signal;
    this.sink = options.onEvent ?? (() => {});
    this.deps = { ...defaultPauseDeps(), ...options.deps };
    this.failpoints = options.failpoints ?? {};
    const ownership = ownershipFor(options.plan);
    const record = options.catalog.createBackup({
      planDigest: options.plan.digest,
      group: options.plan.group,
      mode,
      members: resolved.map((m) => m.spec),
      artifactsLocation: this.store.location,
      hooks: options.plan.hooks,
      ownership,
    });
    this.id = record.id;
    this.heartbeat = startHeartbeat(options.catalog, record.id, ownership);
    // Opening a session does no I/O; each is closed in run()'s finally.
    this.members = resolved.map((m) => ({ ...m, session: m.kind.openBackup(this.ctx(m), m.options) }));
    this.phases = {
      id: this.id,
      plan: options.plan,
      catalog: options.catalog,
      sink: this.sink,
      signal: this.signal,
      members: this.members,
      failpoints: this.failpoints,
      ...(options.finishTimeoutMs === undefined ? {} : { finishTimeoutMs: options.finishTimeoutMs }),
      ...(options.horizonTimeoutMs === undefined ? {} : { horizonTimeoutMs: options.horizonTimeoutMs }),
      memberState: (m, state, event) => this.memberState(m, state, event),
      log: (level, message, fields) => this.log(level, message, fields),
    };
    this.emitState(undefined);
  }

  async run(): Promise<BackupResult> {
    try {
      this.setState('preflight');
      await preflightAll(this.phases);
      const maxAttempts = this.mode === 'single' ? 1 : this.options.plan.window.maxAttempts;
      let problems: string[] = [];
      while (this.attempt < maxAttempts) {
        this.attempt++;
        const outcome = await this.runAttempt();
        if (outcome.problems.length === 0) {
          this.setState('finishing');
          await finishAll(this.phases, outcome);
          await waitHorizons(this.phases);
          // The store is the source of truth: its manifest is written before the backup counts as complete.
          await writeManifest(
            this.store,
            this.options.catalog.get(this.id),
            this.options.catalog.events(this.id),
          );
          this.setState('complete', { reason: null });
          for (const m of this.members)
            this.options.catalog.updateMember(this.id, m.spec.name, { state: 'complete' });
          return this.result();
        }
        problems = outcome.problems;
        await discardAll(outcome.captures);
        for (const c of outcome.captures) this.memberState(c.member, 'released', { step: 'released' });
      }
      this.setState('invalid', { reason: `WINDOW_INVALID: ${problems.join('; ')}` });
    } catch (error) {
      this.fail(error);
    } finally {
      this.heartbeat.stop(); // the outcome is recorded (or the catalog is gone): nothing to renew
      // Every session, whatever it reached: connections, children, temp files. close() never throws and is
      // bounded; the backup's outcome is already recorded.
      await Promise.allSettled(this.members.map((m) => m.session.close()));
    }
    return this.result();
  }

  private async runAttempt(): Promise<AttemptOutcome> {
    const sessions =
      this.mode === 'single' ? [] : await resolveClusters(this.options.plan.clusters, this.deps, this.signal);
    let captures: Captured[] = [];
    try {
      if (this.attempt === 1) for (const w of await leaseWarnings(sessions)) this.log('warn', w);
      this.setState('pausing', {
        attempts: this.attempt,
        targets: sessions.map((s) => ({
          cluster: s.cluster.name,
          targets: s.resolved.targets,
          leaseMs: s.cluster.leaseMs,
        })),
      });
      const { pausedAtMs, drainMs } =
        sessions.length > 0
          ? await pauseClusters(sessions, this.signal)
          : { pausedAtMs: Date.now(), drainMs: 0 };
      this.setState('paused', { pausedAtMs, drainMs });
      await this.failpoints.afterPause?.();
      captures = await captureAll(this.phases);
      this.setState('captured');
      const required = this.requiredMs(captures);
      await sleep(pausedAtMs + required - Date.now(), this.signal);
      const problems = await checkValidity(sessions, this.signal);
      this.setState('unpausing');
      const unpaused = await unpauseClusters(sessions);
      if (!unpaused.ok) throw unpauseFailure(sessions, unpaused); // Scalar's servers ignore the lease: fail loudly
      const unpauseStartedAtMs = sessions.length > 0 ? unpaused.unpauseStartedAtMs : Date.now();
      const window = {
        pausedAtMs,
        unpauseStartedAtMs,
        midMs: Math.round((pausedAtMs + unpauseStartedAtMs) / 2),
      };
      this.setState('validating', { ...window });
      problems.push(...(await checkMembershipAfter(sessions, this.signal))); // pods compared after the unpause too
      for (const c of captures)
        problems.push(...((await c.member.session.windowProblems?.(this.signal)) ?? []));
      if (unpauseStartedAtMs - pausedAtMs < required)
        problems.push(
          `window ${unpauseStartedAtMs - pausedAtMs} ms is shorter than the required ${required} ms`,
        );
      this.reportWindow(window, required, problems);
      return { captures, window, problems };
    } catch (error) {
      const late = await unpauseClusters(sessions); // a failed attempt's unpause is checked too, and ranked first
      await discardAll(captures);
      if (!late.ok) throw unpauseFailure(sessions, late, error);
      throw error;
    } finally {
      await unpauseClusters(sessions);
      closeSessions(sessions);
    }
  }

  private requiredMs(captures: readonly Captured[]): number {
    if (this.mode === 'single') return 0;
    if (this.mode === 'snapshot') return this.options.plan.window.minMs;
    return requiredWindowMs(
      this.options.plan.window,
      captures.flatMap((c) => (c.clock ? [c.clock] : [])),
    );
  }

  private fail(error: unknown): void {
    const unpauseFailed = error instanceof StillpointError && error.code === 'UNPAUSE_FAILED'; // outranks an abort: act now
    const code = unpauseFailed
      ? 'UNPAUSE_FAILED'
      : this.signal.aborted
        ? 'ABORTED'
        : error instanceof StepFailure
          ? error.code
          : asStillpointError(error).code;
    const message =
      error instanceof StillpointError
        ? error.detail
        : error instanceof Error
          ? error.message
          : String(error);
    this.failureHint = error instanceof StillpointError ? (error.hint ?? null) : null;
    try {
      this.setState('failed', { reason: `${code}: ${message}` });
    } catch (catalogError) {
      this.log('warn', `could not record the failure in the catalog: ${String(catalogError)}`);
    }
  }

  private reportWindow(
    window: AttemptOutcome['window'],
    requiredMs: number,
    problems: readonly string[],
  ): void {
    const event = {
      type: 'window' as const,
      backupId: this.id,
      attempt: this.attempt,
      pausedAtMs: window.pausedAtMs,
      unpauseStartedAtMs: window.unpauseStartedAtMs,
      windowMs: window.unpauseStartedAtMs - window.pausedAtMs,
      requiredMs,
      valid: problems.length === 0,
      problems,
    };
    this.options.catalog.note(this.id, 'window', event);
    this.sink(event);
  }

  private setState(state: BackupState, patch: Parameters<Catalog['transition']>[2] = {}): void {
    this.options.catalog.transition(this.id, state, patch);
    this.state = state;
    this.emitState(patch.reason ?? undefined);
  }

  private emitState(reason: string | undefined): void {
    this.sink({
      type: 'state',
      backupId: this.id,
      state: this.state,
      attempt: Math.max(1, this.attempt),
      ...(reason ? { reason } : {}),
    });
  }

  private memberState(
    m: PlannedMember,
    state: string,
    event: { step: 'preflight' | 'released' | 'failed'; error?: string },
  ): void {
    this.options.catalog.updateMember(this.id, m.spec.name, {
      state,
      ...(event.error ? { error: event.error } : {}),
    });
    this.sink({ type: 'member', backupId: this.id, member: m.spec.name, ...event });
  }

  private log(level: 'info' | 'warn', message: string, fields?: Record<string, unknown>): void {
    this.sink({ type: 'log', backupId: this.id, level, message, ...(fields ? { fields } : {}) });
  }

  private ctx(m: ResolvedMember): BackupSessionContext {
    // Every byte an engine writes through the store, and any it reports itself, becomes a `transfer` event.
    const onTransfer: TransferSink = (p) => this.sink({ type: 'transfer', backupId: this.id, ...p });
    const phase = (): 'prepare' | 'finish' => (this.state === 'finishing' ? 'finish' : 'prepare');
    return {
      backupId: this.id,
      member: m.spec,
      artifacts: withProgress(this.store, (t) => onTransfer({ member: m.spec.name, phase: phase(), ...t })),
      onTransfer,
      artifactPrefix: `${this.id}/${m.spec.name}/`,
      sharedPrefix: `shared/${m.spec.name}/`,
      log: loggerFor(this.sink, this.id, m.spec.name),
    };
  }

  private result(): BackupResult {
    const r = this.options.catalog.get(this.id);
    return {
      backupId: r.id,
      state: r.state,
      reason: r.reason,
      hint: r.state === 'complete' ? null : this.failureHint,
      mode: r.mode,
      attempts: r.attempts,
      window: r.window,
      drainMs: r.drainMs,
      members: r.members.map((m) => ({
        name: m.name,
        engine: m.engine,
        state: m.state,
        handle: m.handle,
        bytes: m.bytes,
        captureMs: m.captureMs,
        error: m.error,
      })),
    };
  }
}

export type { ClusterSession };
