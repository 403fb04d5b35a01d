/**
 * Discovery as real Scalar deployments name things: the headless service by the charts' labels and naming
 * rule (fixtures written from the rules in the charts' _helpers.tpl, not copied), readiness, and discovery
 * without Helm labels (a workload by name, a label selector) with an explicit admin port. The real adapter
 * against the fake API server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createK8sClientApi } from '../../src/k8s/k8s-client-api.ts';
import { createKubernetesTargetResolver } from '../../src/k8s/k8s-target-resolver.ts';
import { type ReleaseRef, chartFullname, readRelease, srvNameFor } from '../../src/k8s/release.ts';
import { codeOf } from '../support/error-code.ts';
import { FakeK8sApiServer } from './fake-k8s-api-server.ts';
import { type ReleaseFixture, type ReleaseFixtureOptions, startReleaseFixture } from './release-fixture.ts';

const cleanups: (() => Promise<void>)[] = [];
let octet = 10;

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function fixture(options: ReleaseFixtureOptions): Promise<ReleaseFixture> {
  octet += 5;
  const f = await startReleaseFixture({ firstOctet: octet, pods: 2, envoy: false, ...options });
  cleanups.push(() => f.close());
  return f;
}

const apiOf = (f: { fake: FakeK8sApiServer }) =>
  createK8sClientApi({ kubeConfig: f.fake.kubeConfig(), callTimeoutMs: 5_000 });

describe("the charts' fullname rule", () => {
  it('is <release>-<chart>, or the release when it contains the chart name, truncated to 63 without a trailing dash', () => {
    expect(chartFullname('prod', 'scalardl')).toBe('prod-scalardl');
    expect(chartFullname('ledger', 'scalardl')).toBe('ledger-scalardl');
    expect(chartFullname('scalardl-ledger', 'scalardl')).toBe('scalardl-ledger');
    expect(chartFullname('scalardl-auditor', 'scalardl-audit')).toBe('scalardl-auditor'); // contains "scalardl-audit"
    expect(chartFullname('auditor', 'scalardl-audit')).toBe('auditor-scalardl-audit');
    expect(chartFullname('my-scalardb-cluster-e2e', 'scalardb-cluster')).toBe('my-scalardb-cluster-e2e');
    expect(chartFullname('x', 'scalardb', 'custom')).toBe('custom');
    // 62 characters then "-scalardb": cut at 63 leaves a trailing dash, which is trimmed.
    const long = 'a'.repeat(62);
    expect(chartFullname(long, 'scalardb')).toBe(long);
    expect(chartFullname('b'.repeat(70), 'scalardb')).toBe('b'.repeat(63));
  });
});

describe('headless service discovery', () => {
  it('finds <release>-<chart>-headless for a release not named after the chart, and prints that SRV name', async () => {
    // The old lookup (`<release>-headless`) failed here with K8S_SERVICE_NOT_FOUND.
    const f = await fixture({ release: 'ledger', product: 'scalardl-ledger' });
    const snapshot = await readRelease(apiOf(f), { release: 'ledger', namespace: f.namespace });
    expect(snapshot.service?.name).toBe('ledger-scalardl-headless');
    expect(snapshot.adminPort).toBe(f.port);
    expect(srvNameFor(snapshot)).toBe(
      '_scalardl-admin._tcp.ledger-scalardl-headless.ns-scalar.svc.cluster.local',
    );
  });

  it('finds the service by its labels when the name follows no rule we know (fullnameOverride)', async () => {
    const f = await fixture({ release: 'prod', product: 'scalardl-auditor', fullnameOverride: 'audit-x' });
    const snapshot = await readRelease(apiOf(f), { release: 'prod', namespace: f.namespace });
    expect(snapshot.service?.name).toBe('audit-x-headless'); // the -metrics service has the same labels: the suffix decides
  });

  it('falls back to the chart name when the services carry no labels, and says what it looked for otherwise', async () => {
    const f = await fixture({
      release: 'scalardb-cluster-e2e',
      product: 'scalardb-cluster',
      serviceLabels: false,
    });
    const snapshot = await readRelease(apiOf(f), { release: 'scalardb-cluster-e2e', namespace: f.namespace });
    expect(snapshot.service?.name).toBe('scalardb-cluster-e2e-headless');

    const g = await fixture({
      release: 'other',
      product: 'scalardb',
      serviceLabels: false,
      fullnameOverride: 'renamed',
    });
    const error = await readRelease(apiOf(g), { release: 'other', namespace: g.namespace }).catch(
      (e: unknown) => e,
    );
    expect((error as { code: string }).code).toBe('K8S_SERVICE_NOT_FOUND');
    expect((error as Error).message).toContain('"other-scalardb-headless"');
  });
});

describe('readiness', () => {
  it('refuses a pod that is Running but not Ready (a crash-looping container keeps the phase Running)', async () => {
    const f = await fixture({});
    const resolver = createKubernetesTargetResolver(apiOf(f));
    const source = { kind: 'kubernetes', release: f.release, namespace: f.namespace } as const;
    expect((await resolver.resolve(source)).targets).toHaveLength(2);
    f.fake.setPhase(f.namespace, f.nodes[0]!.name, 'Running', false);
    expect(await codeOf(resolver.resolve(source))).toBe('K8S_POD_NOT_RUNNING');
  });
});

describe('discovery without Helm labels', () => {
  it('finds the pods of a Deployment by name, and of a selector, with the admin port by number or container port name', async () => {
    const f = await fixture({ product: 'scalardb-cluster' });
    const api = apiOf(f);
    const byName = await readRelease(api, {
      namespace: f.namespace,
      workload: { kind: 'Deployment', name: f.fullname },
      adminPort: f.port,
    });
    expect(byName.pods.map((p) => p.name).sort()).toEqual(f.nodes.map((n) => n.name).sort());
    expect(byName.name).toBe(`deployment/${f.fullname}`);
    const bySelector = await readRelease(api, {
      namespace: f.namespace,
      selector: 'app.kubernetes.io/app=scalardb-cluster',
      adminPort: 'scalardb-cluster',
    });
    expect(bySelector.adminPort).toBe(f.port); // the container port named scalardb-cluster
    expect(bySelector.workload.name).toBe(f.fullname);
    expect(
      await codeOf(
        readRelease(api, { namespace: f.namespace, selector: 'app.kubernetes.io/app=scalardb-cluster' }),
      ),
    ).toBe('K8S_SOURCE_INVALID');
    expect(
      await codeOf(
        readRelease(api, {
          namespace: f.namespace,
          selector: 'app.kubernetes.io/app=scalardb-cluster',
          adminPort: 'nope',
        }),
      ),
    ).toBe('K8S_ADMIN_PORT_NOT_FOUND');
  });

  it("finds a hand-written StatefulSet whose own labels differ from its pods' (by its selector)", async () => {
    const fake = new FakeK8sApiServer();
    await fake.start();
    cleanups.push(() => fake.close());
    const podLabels = { app: 'my-ledger' };
    fake.addWorkload({
      kind: 'StatefulSet',
      name: 'ledger',
      namespace: 'dl',
      labels: {},
      replicas: 2,
      podTemplate: { labels: podLabels, containerPorts: [] },
    });
    for (const i of [0, 1]) {
      fake.addPod({
        name: `ledger-${i}`,
        namespace: 'dl',
        labels: podLabels,
        podIp: `10.1.0.${i + 1}`,
        owner: { kind: 'StatefulSet', name: 'ledger' },
      });
    }
    const api = apiOf({ fake });
    const refs: ReleaseRef[] = [
      { namespace: 'dl', workload: { kind: 'StatefulSet', name: 'ledger' }, adminPort: 50053 },
      { namespace: 'dl', selector: 'app=my-ledger', adminPort: 50053 },
    ];
    for (const ref of refs) {
      const snapshot = await readRelease(api, ref);
      expect(snapshot.workload).toMatchObject({ kind: 'StatefulSet', name: 'ledger' });
      expect(snapshot.pods.map((p) => `${p.podIp}`).sort()).toEqual(['10.1.0.1', '10.1.0.2']);
      expect(snapshot.adminPort).toBe(50053);
      expect(srvNameFor(snapshot)).toBeUndefined();
    }
  });
});
