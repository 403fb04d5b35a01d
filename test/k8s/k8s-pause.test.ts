/**
 * `pauseRelease` end to end: the REAL @kubernetes/client-node adapter against the fake Kubernetes API server,
 * the REAL pause client against real admin servers (one per fake pod, on its own 127.0.0.x address).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StillpointError } from '../../src/errors.ts';
import { createK8sClientApi } from '../../src/k8s/k8s-client-api.ts';
import { type K8sPauseOptions, localDateTime, pauseRelease, wrapperJson } from '../../src/k8s/k8s-pause.ts';
import type { PauseClient } from '../../src/pause/contract.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import { type ReleaseFixture, type ReleaseFixtureOptions, startReleaseFixture } from './release-fixture.ts';
import { codeOf } from '../support/error-code.ts';

let fixture: ReleaseFixture | undefined;
let client: PauseClient | undefined;
let octet = 10;

const extra: ReleaseFixture[] = [];

afterEach(async () => {
  for (const f of extra.splice(0)) await f.close();
  client?.close();
  await fixture?.close();
  fixture = undefined;
  client = undefined;
});

async function setUp(options: ReleaseFixtureOptions = {}): Promise<ReleaseFixture> {
  // Each test its own address range, so a server still closing never collides with the next test's.
  octet += 10;
  fixture = await startReleaseFixture({ firstOctet: octet, ...options });
  client = createPauseClient({ callDeadlineMs: 5_000 });
  return fixture;
}

function optionsFor(f: ReleaseFixture, extra: Partial<K8sPauseOptions> = {}): K8sPauseOptions {
  return {
    api: createK8sClientApi({ kubeConfig: f.fake.kubeConfig(), callTimeoutMs: 5_000 }),
    pauseClient: client!,
    releases: [{ release: f.release, namespace: f.namespace }],
    pauseDurationMs: 200,
    pollIntervalMs: 20,
    ...extra,
  };
}

describe('pauseRelease', () => {
  it('pauses every pod by IP inside the window, unpauses, and reports the upstream-shaped result', async () => {
    const f = await setUp();
    const pausedInWindow: boolean[] = [];
    const result = await pauseRelease(
      optionsFor(f, {
        timeZone: 'Asia/Tokyo',
        onEvent: (e) => {
          if (e.type === 'paused') pausedInWindow.push(...f.nodes.map((n) => n.gate.paused));
        },
      }),
    );
    expect(pausedInWindow).toEqual([true, true, true]);
    expect(f.nodes.every((n) => !n.gate.paused)).toBe(true);
    expect(result.attempts).toBe(1);
    expect(result.releases[0]!.product).toBe('scalardb-cluster'); // detected from the pods' app label; Envoy ignored
    expect(result.releases[0]!.targets).toEqual(f.nodes.map((n) => `${n.ip}:${f.port}`).sort());
    // The hold happened (a lower bound only, with slack for timer rounding; no upper bound on a shared machine).
    expect(result.window.unpauseStartedAtMs).toBeGreaterThanOrEqual(result.window.pausedAtMs + 150);

    const json = wrapperJson(result);
    expect(json).toMatchObject({
      namespace: 'ns-scalar',
      helm_release_name: 'prod-db',
      timezone: 'Asia/Tokyo',
      pause_start_timestamp_ms: result.window.pausedAtMs,
      pause_end_timestamp_ms: result.window.unpauseStartedAtMs,
      pause_mid_timestamp_ms: result.window.midMs,
      // The chart names the headless service <release>-<chart>-headless (the release does not contain the chart name).
      srv_name: '_scalardb-cluster._tcp.prod-db-scalardb-cluster-headless.ns-scalar.svc.cluster.local',
    });
    expect(json['pause_start_date_time']).toBe(localDateTime(result.window.pausedAtMs, 'Asia/Tokyo'));
    expect(json['pause_start_date_time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
    // The real adapter really went over HTTP with the kubeconfig's token.
    expect(
      f.fake.requests.some((r) => r.path.startsWith('/api/v1/namespaces/ns-scalar/pods?labelSelector=')),
    ).toBe(true);
    expect(f.fake.requests.every((r) => r.authorization === 'Bearer fake-token')).toBe(true);
  });

  it('finds an invalid window when a pod restarts during it, says what changed, and succeeds on retry', async () => {
    const f = await setUp();
    const victim = f.nodes[1]!;
    const result = await pauseRelease(
      optionsFor(f, {
        retries: 2,
        onEvent: (e) => {
          if (e.type === 'paused' && e.attempt === 1) {
            f.fake.restartPod(f.namespace, victim.name);
            victim.gate.unpause('container restarted'); // a restarted process comes back unpaused
          }
        },
      }),
    );
    expect(result.attempts).toBe(2);
    expect(result.invalidAttempts).toHaveLength(1);
    const changes = result.invalidAttempts[0]!.changes.join('\n');
    expect(changes).toContain(`pod ${victim.name} restarted (restarts 0 → 1)`);
    expect(changes).toContain(`${victim.ip}:${f.port} is not paused`);
    expect(f.nodes.every((n) => !n.gate.paused)).toBe(true);
  });

  it('finds an invalid window when a new pod appears during it, and gives up after the retries', async () => {
    const f = await setUp();
    const events: string[] = [];
    const error = await pauseRelease(
      optionsFor(f, {
        retries: 0,
        onEvent: (e) => {
          events.push(e.type);
          if (e.type === 'paused') {
            f.fake.addPod({
              name: 'prod-db-scalardb-cluster-abc-new',
              namespace: f.namespace,
              labels: {
                'app.kubernetes.io/instance': f.release,
                'app.kubernetes.io/app': 'scalardb-cluster',
              },
              podIp: '127.0.0.250',
            });
          }
        },
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StillpointError);
    expect((error as StillpointError).code).toBe('K8S_WINDOW_INVALID');
    expect((error as StillpointError).message).toContain(
      'new pod prod-db-scalardb-cluster-abc-new (Running)',
    );
    expect(events).toEqual(['paused', 'unpaused', 'invalid']);
    expect(f.nodes.every((n) => !n.gate.paused)).toBe(true);
  });

  it('refuses a release with a pod that is not Running, without pausing anything', async () => {
    const f = await setUp();
    f.fake.setPhase(f.namespace, f.nodes[2]!.name, 'Pending');
    expect(await codeOf(pauseRelease(optionsFor(f)))).toBe('K8S_POD_NOT_RUNNING');
    expect(f.nodes.map((n) => n.gate.stats().pausesTotal)).toEqual([0, 0, 0]);
  });

  it('fails the pause when one pod admin endpoint is down and unpauses the others', async () => {
    const f = await setUp({ downPods: [0] });
    expect(await codeOf(pauseRelease(optionsFor(f)))).toBe('PAUSE_FAILED');
    const up = f.nodes.slice(1);
    expect(up.every((n) => !n.gate.paused)).toBe(true);
    expect(up.every((n) => n.gate.stats().pausesTotal >= 1)).toBe(true); // they were paused, then rolled back
  });

  it('reports an unpause failure first, before the invalid window it also caused', async () => {
    const f = await setUp();
    const victim = f.nodes[0]!;
    const error = await pauseRelease(
      optionsFor(f, {
        onEvent: (e) => {
          // The pod's admin endpoint vanishes while paused: CheckPaused and Unpause cannot reach it.
          if (e.type === 'paused') void victim.server!.server.forceShutdown();
        },
      }),
    ).catch((e: unknown) => e);
    expect((error as StillpointError).code).toBe('UNPAUSE_FAILED');
    expect((error as StillpointError).message).toContain(`${victim.ip}:${f.port}`);
    // The last resort upstream gives too, exactly: restart the workload (its pods start unpaused).
    expect((error as StillpointError).hint).toContain(
      'kubectl rollout restart deployment/prod-db-scalardb-cluster -n ns-scalar',
    );
    expect(f.nodes.slice(1).every((n) => !n.gate.paused)).toBe(true);
    victim.server = undefined;
  });

  it('pauses several releases in one all-or-nothing window (-r ledger -r auditor)', async () => {
    const f = await setUp({ release: 'ledger', product: 'scalardl-ledger', pods: 2 });
    octet += 10;
    const auditor = await startReleaseFixture({
      fake: f.fake,
      firstOctet: octet,
      release: 'auditor',
      product: 'scalardl-auditor',
      pods: 2,
      envoy: false,
    });
    extra.push(auditor);
    const all = [...f.nodes, ...auditor.nodes];
    let pausedTogether: boolean[] = [];
    const result = await pauseRelease(
      optionsFor(f, {
        releases: [
          { release: 'ledger', namespace: f.namespace },
          { release: 'auditor', namespace: f.namespace },
        ],
        onEvent: (e) => {
          if (e.type === 'paused') pausedTogether = all.map((n) => n.gate.paused);
        },
      }),
    );
    expect(pausedTogether).toEqual([true, true, true, true]);
    expect(all.every((n) => !n.gate.paused && n.gate.stats().pausesTotal === 1)).toBe(true);
    expect(result.releases.map((r) => [r.name, r.product, r.srvName])).toEqual([
      [
        'ledger',
        'scalardl-ledger',
        '_scalardl-admin._tcp.ledger-scalardl-headless.ns-scalar.svc.cluster.local',
      ],
      [
        'auditor',
        'scalardl-auditor',
        '_scalardl-auditor-admin._tcp.auditor-scalardl-audit-headless.ns-scalar.svc.cluster.local',
      ],
    ]);
    const json = wrapperJson(result);
    expect(json['helm_release_name']).toBeUndefined();
    expect((json['releases'] as unknown[]).length).toBe(2);

    // All or nothing: one auditor pod's endpoint down → the ledger is not left paused either.
    await auditor.nodes[1]!.server!.close();
    auditor.nodes[1]!.server = undefined;
    expect(
      await codeOf(
        pauseRelease(
          optionsFor(f, {
            releases: [
              { release: 'ledger', namespace: f.namespace },
              { release: 'auditor', namespace: f.namespace },
            ],
          }),
        ),
      ),
    ).toBe('PAUSE_FAILED');
    expect(all.every((n) => !n.gate.paused)).toBe(true);
    expect(f.nodes.every((n) => n.gate.stats().pausesTotal === 2)).toBe(true); // paused, then rolled back
  });

  it('unpauses when cancelled during the hold', async () => {
    const f = await setUp();
    const controller = new AbortController();
    const code = await codeOf(
      pauseRelease(
        optionsFor(f, {
          pauseDurationMs: 60_000,
          signal: controller.signal,
          onEvent: (e) => {
            if (e.type === 'paused') setTimeout(() => controller.abort(), 50);
          },
        }),
      ),
    );
    expect(code).toBe('K8S_PAUSE_CANCELLED');
    expect(f.nodes.every((n) => !n.gate.paused && n.gate.stats().pausesTotal === 1)).toBe(true);
  });

  it('gives every Kubernetes API call a deadline', async () => {
    const f = await setUp();
    f.fake.hang = true;
    const api = createK8sClientApi({ kubeConfig: f.fake.kubeConfig(), callTimeoutMs: 200 });
    const error = await api.listPods(f.namespace, 'a=b').catch((e: unknown) => e);
    expect((error as StillpointError).code).toBe('K8S_API_FAILED');
    expect((error as StillpointError).message).toContain('no answer within 200 ms');
  });

  it('rejects an unknown time zone before touching anything', async () => {
    const f = await setUp();
    expect(await codeOf(pauseRelease(optionsFor(f, { timeZone: 'Mars/Olympus' })))).toBe('TIME_ZONE_INVALID');
    expect(f.fake.requests).toHaveLength(0);
  });

  it('formats local date-times in the zone', () => {
    expect(localDateTime(0, 'Asia/Tokyo')).toBe('1970-01-01T09:00:00.000');
    expect(localDateTime(1_700_000_000_123, 'Etc/UTC')).toBe('2023-11-14T22:13:20.123');
  });
});
