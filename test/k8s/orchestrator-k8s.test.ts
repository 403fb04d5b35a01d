/**
 * A plan's `kubernetes` target through the orchestrator's pause phase (src/orchestrator/pause-phase.ts): the
 * Kubernetes resolver plugged into `createTargetResolver({ kubernetes })`, the real adapter against the fake API
 * server, real admin servers per pod. Shows the orchestrator pauses every pod and sees a restart in the window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createK8sClientApi } from '../../src/k8s/k8s-client-api.ts';
import { createKubernetesTargetResolver } from '../../src/k8s/k8s-target-resolver.ts';
import {
  type ClusterSession,
  type PauseDeps,
  checkValidity,
  closeSessions,
  pauseClusters,
  resolveClusters,
  unpauseClusters,
} from '../../src/orchestrator/pause-phase.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import { createTargetResolver } from '../../src/pause/targets.ts';
import type { ClusterPlan } from '../../src/plan/load-plan.ts';
import { type ReleaseFixture, startReleaseFixture } from './release-fixture.ts';

let fixture: ReleaseFixture | undefined;
let sessions: ClusterSession[] = [];
let octet = 120;

afterEach(async () => {
  closeSessions(sessions);
  sessions = [];
  await fixture?.close();
  fixture = undefined;
});

async function pausedSessions(): Promise<{ f: ReleaseFixture; sessions: ClusterSession[] }> {
  octet += 10;
  const f = (fixture = await startReleaseFixture({ firstOctet: octet, product: 'scalardl-ledger' }));
  const api = createK8sClientApi({ kubeConfig: f.fake.kubeConfig(), callTimeoutMs: 5_000 });
  const deps: PauseDeps = {
    createPauseClient: (connection) => createPauseClient({ ...connection, callDeadlineMs: 5_000 }),
    createResolver: () => createTargetResolver({ kubernetes: createKubernetesTargetResolver(api) }),
  };
  const cluster: ClusterPlan = {
    name: 'ledger',
    source: { kind: 'kubernetes', release: f.release, namespace: f.namespace, product: 'scalardl-ledger' },
    leaseMs: 15_000,
  };
  const signal = new AbortController().signal;
  sessions = await resolveClusters([cluster], deps, signal);
  await pauseClusters(sessions, signal);
  return { f, sessions };
}

describe('orchestrator pause phase with a kubernetes target', () => {
  it('pauses every pod of the release by IP and finds the window valid when nothing changed', async () => {
    const { f, sessions } = await pausedSessions();
    expect(sessions[0]!.resolved.targets.map((t) => t.host)).toEqual(f.nodes.map((n) => n.ip));
    expect(f.nodes.every((n) => n.gate.paused)).toBe(true);
    expect(await checkValidity(sessions, new AbortController().signal)).toEqual([]);
    expect((await unpauseClusters(sessions)).ok).toBe(true);
    expect(f.nodes.every((n) => !n.gate.paused)).toBe(true);
  });

  it('finds the window invalid when a pod restarts while paused', async () => {
    const { f, sessions } = await pausedSessions();
    f.fake.restartPod(f.namespace, f.nodes[2]!.name);
    const problems = await checkValidity(sessions, new AbortController().signal);
    expect(problems.join('\n')).toContain('ledger: membership changed');
    expect((await unpauseClusters(sessions)).ok).toBe(true);
  });
});
