/**
 * Pausing every cluster of a plan at once (all-or-nothing across clusters, each cluster all-or-nothing
 * through its PauseClient), checking the window's validity, and unpausing. Whoever calls
 * {@link pauseClusters} must call {@link unpauseClusters} in a `finally`.
 */
import { PauseError, asStillpointError } from '../errors.ts';
import type {
  AdminConnectionOptions,
  PauseClient,
  PausedGroup,
  ResolvedTargets,
  Target,
  TargetResolver,
  TargetStatus,
} from '../pause/contract.ts';
import type { ClusterPlan } from '../plan/load-plan.ts';
import { sleep } from './modes.ts';

/** How the orchestrator reaches clusters; the defaults are the real gRPC client and resolvers. */
export interface PauseDeps {
  createPauseClient(connection: AdminConnectionOptions): PauseClient;
  createResolver(cluster: ClusterPlan): TargetResolver;
  /** Kubernetes: Before a pause, how long to wait for pods still starting (after a restart or scale-up), ms. Default 120 000. */
  readonly settleTimeoutMs?: number;
  /** Kubernetes: Poll interval while waiting for them, ms. Default 1 000. */
  readonly settlePollMs?: number;
}

export interface ClusterSession {
  readonly cluster: ClusterPlan;
  readonly client: PauseClient;
  readonly resolver: TargetResolver;
  readonly resolved: ResolvedTargets;
  group?: PausedGroup;
}

/** The admin connection options of a cluster (TLS, token). */
export function connectionOf(cluster: ClusterPlan): AdminConnectionOptions {
  return {
    ...(cluster.tls === undefined ? {} : { tls: cluster.tls }),
    ...(cluster.token === undefined ? {} : { token: cluster.token }),
    ...(cluster.callTimeoutMs === undefined ? {} : { callDeadlineMs: cluster.callTimeoutMs }),
  };
}

/** Resolves every cluster's targets (and membership fingerprint). Closes what it opened on failure. */
export async function resolveClusters(
  clusters: readonly ClusterPlan[],
  deps: PauseDeps,
  signal: AbortSignal,
): Promise<ClusterSession[]> {
  const sessions: ClusterSession[] = [];
  try {
    for (const cluster of clusters) {
      const resolver = deps.createResolver(cluster);
      const resolved = await resolveSettled(resolver, cluster, deps, signal);
      if (resolved.targets.length === 0) {
        throw new PauseError('NO_TARGETS', `Cluster "${cluster.name}" resolved to no targets.`, {
          context: { cluster: cluster.name },
          hint: "Check the cluster's targets in the plan (SRV name, Kubernetes release).",
        });
      }
      sessions.push({ cluster, resolver, resolved, client: deps.createPauseClient(connectionOf(cluster)) });
    }
    return sessions;
  } catch (error) {
    closeSessions(sessions);
    throw error;
  }
}

// Kubernetes: A Kubernetes cluster right after a restart or a scale-up (a retry after an invalid window) has pods
// still starting: wait for them to be Running and Ready instead of failing the retry at once. Other errors are final.
async function resolveSettled(
  resolver: TargetResolver,
  cluster: ClusterPlan,
  deps: PauseDeps,
  signal: AbortSignal,
): Promise<ResolvedTargets> {
  const deadline = Date.now() + (deps.settleTimeoutMs ?? 120_000);
  for (;;) {
    try {
      return await resolver.resolve(cluster.source, signal);
    } catch (error) {
      if (asStillpointError(error).code !== 'K8S_POD_NOT_RUNNING' || Date.now() >= deadline) throw error;
    }
    await sleep(deps.settlePollMs ?? 1_000, signal);
  }
}

/**
 * Kubernetes: The membership read again after the unpause (seed 004 compares the pods after the backup too): a pod
 * restarted or added during the unpause itself ran unpaused. Kubernetes clusters only. Returns the problems.
 */
export async function checkMembershipAfter(
  sessions: readonly ClusterSession[],
  signal: AbortSignal,
): Promise<string[]> {
  const kubernetes = sessions.filter((s) => s.cluster.source.kind === 'kubernetes');
  const problems = await Promise.all(
    kubernetes.map(async (s) => {
      try {
        const again = await s.resolver.resolve(s.cluster.source, signal);
        if (again.membership.fingerprint === s.resolved.membership.fingerprint) return [];
        return [
          `${s.cluster.name}: membership changed by the end of the unpause (${s.resolved.membership.items.join(',')} → ${again.membership.items.join(',')})`,
        ];
      } catch (error) {
        return [
          `${s.cluster.name}: membership could not be re-checked after the unpause (${asStillpointError(error).code})`,
        ];
      }
    }),
  );
  return problems.flat();
}

/**
 * Kubernetes: The error for an unpause not confirmed (after the client's retries): targets may still be paused, and
 * Scalar's servers ignore the lease, so the run must fail loudly with what to do, including the last resort.
 * `cause`: what failed the attempt before the unpause (reported after this).
 */
export function unpauseFailure(
  sessions: readonly ClusterSession[],
  unpaused: { targets: readonly TargetStatus[] },
  cause?: unknown,
): PauseError {
  const bad = unpaused.targets.filter((t) => !t.ok).map((t) => t.target);
  const affected = sessions.filter((s) => s.resolved.targets.some((t) => bad.includes(t.label)));
  const fallbacks = affected.flatMap((s) =>
    s.resolved.unpauseFallback === undefined ? [] : [s.resolved.unpauseFallback],
  );
  const todo = `Unpause them now: stillpoint unpause -a ${bad.join(',')}${fallbacks.length > 0 ? `; if they stay unreachable, restart them (they start unpaused): ${fallbacks.join(' && ')}` : ''}`;
  return new PauseError(
    'UNPAUSE_FAILED',
    `Unpause was not confirmed by ${bad.join(', ')} of cluster(s) ${affected.map((s) => s.cluster.name).join(', ')}; they may still be paused. ${todo}`,
    {
      context: { clusters: affected.map((s) => s.cluster.name), targets: unpaused.targets },
      hint: todo,
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

export function closeSessions(sessions: readonly ClusterSession[]): void {
  for (const s of sessions) s.client.close();
}

/**
 * Pauses every cluster in parallel. If any cluster fails, the clusters that paused are unpaused and a
 * PauseError `PAUSE_FAILED` is thrown with every cluster's outcome. Returns when all are paused.
 */
export async function pauseClusters(
  sessions: ClusterSession[],
  signal: AbortSignal,
): Promise<{ pausedAtMs: number; drainMs: number }> {
  const started = Date.now();
  const results = await Promise.allSettled(
    sessions.map(async (s) => {
      s.group = await s.client.pauseAll(s.resolved.targets, {
        waitOutstanding: true,
        leaseMs: s.cluster.leaseMs,
        signal,
        ...(s.cluster.drainTimeoutMs === undefined ? {} : { maxPauseWaitMs: s.cluster.drainTimeoutMs }),
      });
    }),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected'
      ? [{ cluster: sessions[i]!.cluster.name, error: asStillpointError(r.reason) }]
      : [],
  );
  if (failed.length > 0) {
    const rollback = await unpauseClusters(sessions);
    throw new PauseError(
      'PAUSE_FAILED',
      `Could not pause cluster(s) ${failed.map((f) => f.cluster).join(', ')}: ${failed[0]!.error.detail}`,
      {
        context: {
          clusters: failed.map((f) => ({ cluster: f.cluster, ...f.error.toJSON() })),
          rollback: { ok: rollback.ok, targets: rollback.targets },
        },
        // The failing cluster's own hint says what to do next (an unreachable node: how to check it).
        hint: `${failed[0]!.error.hint ? `${failed[0]!.error.hint} ` : ''}Check that every target is reachable and drains within drainTimeoutMs; the clusters that paused were unpaused.`,
        cause: failed[0]!.error,
      },
    );
  }
  const pausedAtMs = Math.max(...sessions.map((s) => s.group!.pausedAtMs));
  return { pausedAtMs, drainMs: pausedAtMs - started };
}

/**
 * The validity checks taken just before unpause: every target still paused (CheckPaused, which also
 * renews the lease) and every cluster's membership unchanged (resolver re-run). Returns the problems.
 */
export async function checkValidity(
  sessions: readonly ClusterSession[],
  signal: AbortSignal,
): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    sessions.map(async (s) => {
      if (s.group === undefined) return;
      const check = await s.group.checkPaused();
      for (const t of check.targets) {
        if (!t.ok || t.paused !== true) {
          problems.push(
            `${s.cluster.name}/${t.target}: ${t.ok ? 'not paused' : `unreachable (${t.error?.code ?? 'error'})`}`,
          );
        }
      }
      try {
        const again = await s.resolver.resolve(s.cluster.source, signal);
        if (again.membership.fingerprint !== s.resolved.membership.fingerprint) {
          problems.push(
            `${s.cluster.name}: membership changed (${s.resolved.membership.items.join(',')} → ${again.membership.items.join(',')})`,
          );
        }
      } catch (error) {
        problems.push(
          `${s.cluster.name}: membership could not be re-checked (${asStillpointError(error).code})`,
        );
      }
    }),
  );
  return problems;
}

/** Unpauses every paused cluster (never throws). `unpauseStartedAtMs` is the earliest of them. */
export async function unpauseClusters(
  sessions: readonly ClusterSession[],
): Promise<{ ok: boolean; unpauseStartedAtMs: number; targets: TargetStatus[] }> {
  const startedAt = Date.now();
  const results = await Promise.all(
    sessions.map(async (s) => {
      const group = s.group;
      s.group = undefined;
      return group === undefined ? undefined : group.unpause();
    }),
  );
  const done = results.filter((r) => r !== undefined);
  return {
    ok: done.every((r) => r.ok),
    unpauseStartedAtMs:
      done.length === 0 ? startedAt : Math.min(...done.map((r) => r.window.unpauseStartedAtMs)),
    targets: done.flatMap((r) => [...r.targets]),
  };
}

/** Which targets honour the pause lease (see {@link PauseClient.leaseSupportAll}); clients without the probe: none known. */
export async function probeLeaseSupport(
  client: PauseClient,
  targets: readonly Target[],
): Promise<readonly { readonly target: string; readonly lease: boolean | undefined }[]> {
  return client.leaseSupportAll === undefined ? [] : client.leaseSupportAll(targets);
}

/**
 * One warning per cluster whose targets ignore the pause lease (an upstream scalar-admin server such as
 * ScalarDB Server 3.13): if this process dies while they are paused, nothing unpauses them by itself.
 */
export async function leaseWarnings(sessions: readonly ClusterSession[]): Promise<string[]> {
  const warnings: string[] = [];
  for (const s of sessions) {
    const probe = await probeLeaseSupport(s.client, s.resolved.targets);
    const without = probe.filter((p) => p.lease === false).map((p) => p.target);
    if (without.length > 0)
      warnings.push(
        `cluster "${s.cluster.name}": ${without.join(', ')} ignore the pause lease (an upstream scalar-admin server, e.g. ScalarDB Server 3.13): if stillpoint dies while they are paused they stay paused until \`stillpoint pause unpause\``,
      );
  }
  return warnings;
}
