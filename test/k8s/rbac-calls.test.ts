/**
 * The chart's Role against the API calls the code really makes: every method of the real adapter is driven
 * through the procedures that use it (pause a release, discovery by name fallback / workload / selector, the
 * restore hooks), the FAKE API server records each HTTP request, each request is turned into the RBAC
 * permission it needs, and the set must equal what the rendered Role grants — every call allowed, nothing more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createK8sClientApi } from '../../src/k8s/k8s-client-api.ts';
import { pauseRelease } from '../../src/k8s/k8s-pause.ts';
import { readRelease } from '../../src/k8s/release.ts';
import { createKubernetesRestoreHooks } from '../../src/k8s/restore-hooks.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import type { SeenRequest } from './fake-k8s-api-server.ts';
import { renderChart } from './helm-render.ts';
import { type ReleaseFixture, startReleaseFixture } from './release-fixture.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const fixtures: ReleaseFixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.close();
});

/** `group/resource verb` for one request, as the API server's RBAC authorizer sees it. */
function permissionOf(request: SeenRequest): string {
  const url = new URL(request.path, 'http://x');
  const p = url.pathname.split('/').filter(Boolean);
  const [group, rest] = p[0] === 'api' ? ['', p.slice(3)] : [p[1]!, p.slice(4)]; // /api/v1/namespaces/… or /apis/<g>/<v>/namespaces/…
  const [resource, name, sub] = [rest[1]!, rest[2], rest[3]];
  const verb =
    request.method === 'GET'
      ? name === undefined
        ? url.searchParams.get('watch') === 'true'
          ? 'watch'
          : 'list'
        : 'get'
      : request.method === 'PATCH'
        ? 'patch'
        : request.method.toLowerCase();
  return `${group}/${resource}${sub ? `/${sub}` : ''} ${verb}`;
}

function granted(rules: Rule[]): string[] {
  return rules
    .flatMap((r) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res} ${v}`))),
    )
    .sort();
}

function roleRules(restoreHooks: boolean): Rule[] {
  const docs = renderChart('deploy/helm/stillpoint', {
    release: 'nightly',
    namespace: 'backups',
    values: { restoreHooks: { enabled: restoreHooks } },
  });
  return (docs.find((d) => d['kind'] === 'Role') as unknown as { rules: Rule[] }).rules;
}

describe('the Role covers exactly the API calls the code makes', () => {
  it('every call of every procedure is granted, and every grant is used', async () => {
    const f = await startReleaseFixture({
      firstOctet: 230,
      pods: 2,
      release: 'ledger',
      product: 'scalardl-ledger',
      controller: { startDelayMs: 20, deleteDelayMs: 20 },
    });
    fixtures.push(f);
    const api = createK8sClientApi({ kubeConfig: f.fake.kubeConfig(), callTimeoutMs: 5_000 });
    const methods = new Set<string>();
    // Which adapter methods ran (so a new method cannot slip past this test unexercised).
    const traced = Object.fromEntries(
      Object.entries(api).map(([name, fn]) => [
        name,
        (...args: unknown[]) => (methods.add(name), (fn as (...a: unknown[]) => unknown)(...args)),
      ]),
    ) as unknown as typeof api;

    const client = createPauseClient({ callDeadlineMs: 5_000 });
    try {
      await pauseRelease({
        api: traced,
        pauseClient: client,
        releases: [{ release: 'ledger', namespace: f.namespace }],
        pauseDurationMs: 50,
        pollIntervalMs: 20,
      });
    } finally {
      client.close();
    }
    // The name fallback (services without the chart's labels), a workload by name, a selector without labelled workloads.
    for (const s of f.fake.services.values()) s.labels = {};
    await readRelease(traced, { release: 'ledger', namespace: f.namespace, product: 'scalardl-ledger' });
    await readRelease(traced, {
      namespace: f.namespace,
      workload: { kind: 'StatefulSet', name: 'nope' },
      adminPort: 1,
    }).catch(() => undefined);
    await readRelease(traced, {
      namespace: f.namespace,
      workload: { kind: 'Deployment', name: f.fullname },
      adminPort: f.port,
    });
    for (const w of f.fake.workloads.values()) w.labels = {};
    await readRelease(traced, {
      namespace: f.namespace,
      selector: 'app.kubernetes.io/app=ledger',
      adminPort: f.port,
    });
    for (const w of f.fake.workloads.values())
      w.labels = { 'app.kubernetes.io/instance': 'ledger', 'app.kubernetes.io/app': 'ledger' };
    const hooks = createKubernetesRestoreHooks(traced, {
      release: 'ledger',
      namespace: f.namespace,
      product: 'scalardl-ledger',
      pollIntervalMs: 20,
      timeoutMs: 10_000,
    });
    await hooks.before();
    await hooks.after();
    // The same for a StatefulSet release (its own scale subresource).
    const auditor = await startReleaseFixture({
      fake: f.fake,
      firstOctet: 240,
      pods: 1,
      release: 'auditor',
      product: 'scalardl-auditor',
      workloadKind: 'StatefulSet',
      envoy: false,
    });
    fixtures.push(auditor);
    const stsHooks = createKubernetesRestoreHooks(traced, {
      release: 'auditor',
      namespace: f.namespace,
      pollIntervalMs: 20,
      timeoutMs: 10_000,
    });
    await stsHooks.before();
    await stsHooks.after();

    expect([...methods].sort()).toEqual(Object.keys(api).sort());
    const used = [...new Set(f.fake.requests.map(permissionOf))].sort();
    expect(used).toEqual(granted(roleRules(true)));
    const withoutHooks = granted(roleRules(false));
    expect(used.filter((p) => !p.endsWith(' patch'))).toEqual(withoutHooks);
    expect(withoutHooks.some((p) => p.includes('scale'))).toBe(false);
  });
});
