/**
 * The `kubernetes` target resolver (through src/pause/targets.ts, as the orchestrator uses it), release
 * discovery edge cases, and the restore hooks — all through the REAL client-node adapter against the fake API
 * server (no admin servers needed here: nothing is paused).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { K8sApi } from '../../src/k8s/k8s-api.ts';
import { createK8sClientApi } from '../../src/k8s/k8s-client-api.ts';
import { createKubernetesTargetResolver } from '../../src/k8s/k8s-target-resolver.ts';
import { describeChanges, readRelease } from '../../src/k8s/release.ts';
import { createKubernetesRestoreHooks } from '../../src/k8s/restore-hooks.ts';
import { createTargetResolver } from '../../src/pause/targets.ts';
import { FakeK8sApiServer, type FakeControllerOptions } from './fake-k8s-api-server.ts';
import { codeOf } from '../support/error-code.ts';

const NS = 'ns-scalar';
const LEDGER_LABELS = { 'app.kubernetes.io/instance': 'ledger', 'app.kubernetes.io/app': 'ledger' };
const ADMIN_PORTS = [{ name: 'scalardl-admin', containerPort: 50053 }];

let fake: FakeK8sApiServer | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** A ScalarDL Ledger release `ledger` with a StatefulSet of `replicas` Running pods and an Envoy pod. */
async function ledgerRelease(
  replicas = 2,
  controller: FakeControllerOptions = {},
): Promise<{ fake: FakeK8sApiServer; api: K8sApi }> {
  fake = new FakeK8sApiServer({ startDelayMs: 30, deleteDelayMs: 30, ...controller });
  await fake.start();
  fake.addWorkload({
    kind: 'StatefulSet',
    name: 'ledger',
    namespace: NS,
    labels: LEDGER_LABELS,
    replicas,
    podTemplate: { labels: LEDGER_LABELS, containerPorts: ADMIN_PORTS },
  });
  fake.addService({
    name: 'ledger-headless',
    namespace: NS,
    labels: LEDGER_LABELS,
    ports: [
      { name: 'scalardl', port: 50051, targetPort: 50051 },
      { name: 'scalardl-admin', port: 50053, targetPort: 'scalardl-admin' }, // a named targetPort
    ],
  });
  for (let i = 0; i < replicas; i++) {
    fake.addPod({
      name: `ledger-${i}`,
      namespace: NS,
      labels: LEDGER_LABELS,
      podIp: `10.0.0.${i + 1}`,
      containerPorts: ADMIN_PORTS,
      owner: { kind: 'StatefulSet', name: 'ledger' },
    });
  }
  fake.addPod({
    name: 'ledger-envoy-x',
    namespace: NS,
    labels: { 'app.kubernetes.io/instance': 'ledger', 'app.kubernetes.io/app': 'envoy' },
    podIp: '10.0.9.9',
  });
  return { fake, api: createK8sClientApi({ kubeConfig: fake.kubeConfig(), callTimeoutMs: 5_000 }) };
}

describe('kubernetes target resolver', () => {
  it('resolves pod IPs with the named admin port and fingerprints the membership', async () => {
    const { fake, api } = await ledgerRelease();
    const resolver = createTargetResolver({ kubernetes: createKubernetesTargetResolver(api) });
    const source = {
      kind: 'kubernetes',
      release: 'ledger',
      namespace: NS,
      product: 'scalardl-ledger',
    } as const;
    const first = await resolver.resolve(source);
    expect(first.targets.map((t) => t.label)).toEqual(['10.0.0.1:50053', '10.0.0.2:50053']);
    expect(first.membership.items).toHaveLength(3); // two pods and the StatefulSet
    expect(first.membership.items[2]).toMatch(/^statefulset ledger rv=\d+ replicas=2$/);

    // Negative control: nothing changed → same fingerprint.
    expect((await resolver.resolve(source)).membership.fingerprint).toBe(first.membership.fingerprint);
    fake.restartPod(NS, 'ledger-1');
    const after = await resolver.resolve(source);
    expect(after.membership.fingerprint).not.toBe(first.membership.fingerprint);
  });

  it('detects the product when none is given and ignores Envoy pods', async () => {
    const { api } = await ledgerRelease();
    const snapshot = await readRelease(api, { release: 'ledger', namespace: NS });
    expect(snapshot.product).toBe('scalardl-ledger');
    expect(snapshot.pods.map((p) => p.name)).toEqual(['ledger-0', 'ledger-1']);
    expect(snapshot.adminPort).toBe(50053);
  });

  it('describes every kind of change, and none for an unchanged release', async () => {
    const { fake, api } = await ledgerRelease(3);
    const ref = { release: 'ledger', namespace: NS, product: 'scalardl-ledger' } as const;
    const before = await readRelease(api, ref);
    expect(describeChanges(before, await readRelease(api, ref))).toEqual([]);
    fake.restartPod(NS, 'ledger-0');
    fake.pods.delete(`${NS}/Pod/ledger-2`);
    fake.addPod({ name: 'ledger-3', namespace: NS, labels: LEDGER_LABELS, podIp: '10.0.0.4' });
    const changes = describeChanges(before, await readRelease(api, ref));
    expect(changes).toContain('pod ledger-0 restarted (restarts 0 → 1)');
    expect(changes).toContain('pod ledger-2 is gone');
    expect(changes).toContain('new pod ledger-3 (Running)');
  });

  it('fails clearly: unknown release, missing service, not Running, API errors', async () => {
    const { fake, api } = await ledgerRelease();
    const resolver = createKubernetesTargetResolver(api);
    const source = (release: string) => ({ kind: 'kubernetes', release, namespace: NS }) as const;
    expect(await codeOf(resolver.resolve(source('nope')))).toBe('K8S_RELEASE_NOT_FOUND');
    fake.setPhase(NS, 'ledger-0', 'Failed');
    expect(await codeOf(resolver.resolve(source('ledger')))).toBe('K8S_POD_NOT_RUNNING');
    fake.services.clear();
    expect(await codeOf(resolver.resolve(source('ledger')))).toBe('K8S_SERVICE_NOT_FOUND');
    fake.failWith = 403;
    expect(await codeOf(resolver.resolve(source('ledger')))).toBe('K8S_API_FAILED');
  });
});

describe('kubernetes restore hooks', () => {
  it('scales the workload to zero and waits for the pods to go, then back and waits for readiness', async () => {
    const { fake, api } = await ledgerRelease(2);
    const hooks = createKubernetesRestoreHooks(api, {
      release: 'ledger',
      namespace: NS,
      timeoutMs: 10_000,
      pollIntervalMs: 20,
    });
    await hooks.before();
    const workload = fake.workloads.get(`${NS}/StatefulSet/ledger`)!;
    expect(workload.replicas).toBe(0);
    expect([...fake.pods.values()].filter((p) => p.labels['app.kubernetes.io/app'] === 'ledger')).toEqual([]);
    const patch = fake.requests.find((r) => r.method === 'PATCH');
    expect(patch).toMatchObject({ path: `/apis/apps/v1/namespaces/${NS}/statefulsets/ledger/scale` });
    expect(patch?.contentType).toContain('application/merge-patch+json');

    await hooks.after();
    expect(workload.replicas).toBe(2);
    const pods = [...fake.pods.values()].filter((p) => p.labels['app.kubernetes.io/app'] === 'ledger');
    expect(pods.map((p) => [p.name, p.phase, p.ready])).toEqual([
      ['ledger-0', 'Running', true],
      ['ledger-1', 'Running', true],
    ]);
  });

  it('times out when the pods never go, and refuses `after` without `before`', async () => {
    const { api } = await ledgerRelease(1, { stuck: true });
    const hooks = createKubernetesRestoreHooks(api, {
      release: 'ledger',
      namespace: NS,
      product: 'scalardl-ledger',
      timeoutMs: 200,
      pollIntervalMs: 20,
    });
    expect(await codeOf(hooks.after())).toBe('K8S_RESTORE_HOOK_ORDER');
    expect(await codeOf(hooks.before())).toBe('K8S_SCALE_TIMEOUT');
  });
});
