/**
 * `runBackup` (and `stillpoint backup`) with a plan whose cluster is a Kubernetes release: real SQLite members,
 * the real adapter against the fake API server, a real admin server per pod. The path the Helm CronJob runs:
 * an unpause failure fails the backup with UNPAUSE_FAILED and the rollout-restart command; the pods are
 * compared after the unpause too; a retry waits for new pods to settle.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Catalog, openCatalog } from '../../src/catalog/catalog.ts';
import { createK8sClientApi } from '../../src/k8s/k8s-client-api.ts';
import { createKubernetesTargetResolver } from '../../src/k8s/k8s-target-resolver.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import type { BackupEvent } from '../../src/orchestrator/events.ts';
import type { PauseDeps } from '../../src/orchestrator/pause-phase.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import { createTargetResolver } from '../../src/pause/targets.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { tempDir, writePlan } from '../orchestrator/helpers.ts';
import { type ReleaseFixture, startReleaseFixture } from './release-fixture.ts';
import { failCapture } from '../support/failpoints.ts';

let tmp: ReturnType<typeof tempDir> | undefined;
let fixture: ReleaseFixture | undefined;
let catalog: Catalog | undefined;
let octet = 60;

afterEach(async () => {
  catalog?.close();
  catalog = undefined;
  await fixture?.close();
  fixture = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

async function setUp(): Promise<{ f: ReleaseFixture; planFile: string; deps: PauseDeps }> {
  octet += 10;
  const f = (fixture = await startReleaseFixture({
    firstOctet: octet,
    pods: 2,
    product: 'scalardl-ledger',
    release: 'ledger',
  }));
  tmp = tempDir('sp-k8s-backup-');
  const planFile = writePlan(tmp.dir, [], {
    clusters: [
      {
        name: 'ledger',
        targets: { kubernetes: { release: f.release, namespace: f.namespace, product: 'scalardl-ledger' } },
        leaseMs: 5_000,
      },
    ],
  });
  const api = createK8sClientApi({ kubeConfig: f.fake.kubeConfig(), callTimeoutMs: 5_000 });
  const deps: PauseDeps = {
    createPauseClient: (connection) => createPauseClient({ ...connection, callDeadlineMs: 2_000 }),
    createResolver: () => createTargetResolver({ kubernetes: createKubernetesTargetResolver(api) }),
    settlePollMs: 50,
    settleTimeoutMs: 10_000,
  };
  return { f, planFile, deps };
}

function open(planFile: string) {
  const plan = loadPlan(planFile);
  catalog = openCatalog(plan.catalogPath);
  return { plan, catalog };
}

describe('backup with a kubernetes cluster', () => {
  it('fails UNPAUSE_FAILED with the exact rollout-restart command when a pod cannot be unpaused', async () => {
    const { f, planFile, deps } = await setUp();
    const victim = f.nodes[0]!;
    const result = await runBackup({
      ...open(planFile),
      deps,
      onEvent: (e: BackupEvent) => {
        // The pod's admin endpoint vanishes while paused: CheckPaused and Unpause cannot reach it.
        if (e.type === 'state' && e.state === 'captured') void victim.server!.server.forceShutdown();
      },
    });
    // Before: a warning ("their lease will reopen them") — Scalar's servers ignore the lease — and a retry.
    expect(result.state).toBe('failed');
    expect(result.reason).toMatch(/^UNPAUSE_FAILED: /);
    expect(result.reason).toContain(`${victim.ip}:${f.port}`);
    expect(result.reason).toContain('kubectl rollout restart deployment/ledger-scalardl -n ns-scalar');
    expect(f.nodes.slice(1).every((n) => !n.gate.paused)).toBe(true);
    victim.server = undefined;
  });

  it('reports the unpause failure first when the attempt failed for another reason too (a capture failed)', async () => {
    const { f, planFile, deps } = await setUp();
    const victim = f.nodes[1]!;
    const result = await runBackup({
      ...open(planFile),
      deps,
      failpoints: failCapture('b'),
      onEvent: (e: BackupEvent) => {
        if (e.type === 'state' && e.state === 'paused') void victim.server!.server.forceShutdown();
      },
    });
    // Before: CAPTURE_FAILED, and nothing said that the pod may still be paused.
    expect(result.state).toBe('failed');
    expect(result.reason).toMatch(/^UNPAUSE_FAILED: /);
    expect(result.reason).toContain('kubectl rollout restart deployment/ledger-scalardl -n ns-scalar');
    victim.server = undefined;
  });

  it('an unpause failure outranks an abort (Ctrl-C, SIGTERM at activeDeadlineSeconds): the reason says what to do', async () => {
    const { f, planFile, deps } = await setUp();
    const victim = f.nodes[0]!;
    const controller = new AbortController();
    const result = await runBackup({
      ...open(planFile),
      deps,
      signal: controller.signal,
      onEvent: (e: BackupEvent) => {
        if (e.type === 'state' && e.state === 'paused') {
          void victim.server!.server.forceShutdown();
          controller.abort(new Error('SIGTERM'));
        }
      },
    });
    expect(result.reason).toMatch(
      /^UNPAUSE_FAILED: .*kubectl rollout restart deployment\/ledger-scalardl -n ns-scalar/,
    );
    victim.server = undefined;
  });

  it('compares the pods after the unpause too: a pod restarted during the unpause makes the window invalid', async () => {
    const { f, planFile, deps } = await setUp();
    let restarted = false;
    const result = await runBackup({
      ...open(planFile),
      deps,
      onEvent: (e: BackupEvent) => {
        // After the checks inside the window, before the unpause: only a read after the unpause can see it.
        if (e.type === 'state' && e.state === 'unpausing' && !restarted) {
          restarted = true;
          f.fake.restartPod(f.namespace, f.nodes[1]!.name);
        }
      },
    });
    expect(result.state).toBe('complete');
    expect(result.attempts).toBe(2); // before: 1 — the restart went unseen
    expect(f.nodes.every((n) => !n.gate.paused)).toBe(true);
  });

  it('after a scale-up during the window, the retry waits for the new pod to be Running and Ready and pauses it too', async () => {
    const { f, planFile, deps } = await setUp();
    const newIp = `127.0.0.${octet + 5}`;
    let scaled = false;
    const result = await runBackup({
      ...open(planFile),
      deps,
      onEvent: (e: BackupEvent) => {
        if (e.type === 'state' && e.state === 'unpausing' && !scaled) {
          scaled = true;
          const pod = f.fake.addPod({
            name: 'ledger-scalardl-abc-2',
            namespace: f.namespace,
            labels: f.fake.pod(f.namespace, f.nodes[0]!.name).labels,
            phase: 'Pending',
            ready: false,
          });
          pod.containerPorts = f.fake.pod(f.namespace, f.nodes[0]!.name).containerPorts;
          void f.startNode(pod.name, newIp).then(() =>
            setTimeout(() => {
              Object.assign(pod, { podIp: newIp });
              f.fake.setPhase(f.namespace, pod.name, 'Running', true);
            }, 400),
          );
        }
      },
    });
    // Before: the new pod went unseen (1 attempt); had it been seen, the retry failed K8S_POD_NOT_RUNNING at once.
    expect(result.state).toBe('complete');
    expect(result.attempts).toBe(2);
    expect(f.nodes.map((n) => n.gate.stats().pausesTotal)).toEqual([2, 2, 1]);
  });
});

describe('backup with a kubernetes workload named in the plan (no Helm labels needed)', () => {
  it('pauses the pods of a Deployment given by name with its admin port, and refuses an ambiguous target', async () => {
    const { f, deps } = await setUp();
    const planFile = writePlan(tmp!.dir, [], {
      clusters: [
        {
          name: 'ledger',
          targets: { kubernetes: { deployment: f.fullname, adminPort: f.port, namespace: f.namespace } },
          leaseMs: 5_000,
        },
      ],
    });
    const result = await runBackup({ ...open(planFile), deps });
    expect(result.state).toBe('complete');
    expect(f.nodes.every((n) => !n.gate.paused && n.gate.stats().pausesTotal === 1)).toBe(true);

    const bad = writePlan(tmp!.dir, [], {
      clusters: [
        {
          name: 'ledger',
          targets: { kubernetes: { release: 'ledger', deployment: f.fullname, namespace: f.namespace } },
        },
      ],
    });
    expect(() => loadPlan(bad)).toThrow(/exactly one of release, deployment, statefulset, selector/);
    const noPort = writePlan(tmp!.dir, [], {
      clusters: [{ name: 'ledger', targets: { kubernetes: { selector: 'app=x' } } }],
    });
    expect(() => loadPlan(noPort)).toThrow(/adminPort goes with/);
  });
});

describe('stillpoint backup with a kubernetes cluster', () => {
  it('exits 4 with the rollout-restart command when an unpause fails', async () => {
    const { f, planFile } = await setUp();
    const kubeconfig = join(tmp!.dir, 'kubeconfig.yaml');
    writeFileSync(kubeconfig, f.fake.kubeConfigYaml());
    const victim = f.nodes[1]!;
    // Long enough a window to kill the pod's admin endpoint while it is paused.
    const plan = JSON.parse(readFileSync(planFile, 'utf8')) as Record<string, unknown>; // the helper writes JSON
    writeFileSync(planFile, JSON.stringify({ ...plan, window: { minMs: 1_500 } }));
    const watcher = setInterval(() => {
      if (victim.gate.paused && victim.server) {
        void victim.server.server.forceShutdown();
        victim.server = undefined;
      }
    }, 20);
    const run = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/main.ts',
          'backup',
          '--plan',
          planFile,
          '--catalog',
          join(tmp!.dir, 'cli-catalog.db'),
          '--json',
        ],
        { timeout: 90_000, env: { ...process.env, KUBECONFIG: kubeconfig } },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: stdout + stderr }),
      );
    });
    clearInterval(watcher);
    expect(run.code, run.stdout).toBe(4);
    const last = JSON.parse(run.stdout.trim().split('\n').pop()!) as { state: string; reason: string };
    expect(last.state).toBe('failed');
    expect(last.reason).toContain('kubectl rollout restart deployment/ledger-scalardl -n ns-scalar');
  });
});
