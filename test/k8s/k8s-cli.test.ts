/**
 * `stillpoint k8s pause` as a user runs it: a child process with a kubeconfig FILE pointing at the fake API
 * server, pausing real admin servers. Checks the one JSON line on stdout and the exit codes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReleaseFixture, startReleaseFixture } from './release-fixture.ts';

let fixture: ReleaseFixture;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  fixture = await startReleaseFixture({ firstOctet: 200, pods: 2 });
  dir = mkdtempSync(join(tmpdir(), 'stillpoint-k8s-cli-'));
  kubeconfig = join(dir, 'kubeconfig.yaml');
  writeFileSync(kubeconfig, fixture.fake.kubeConfigYaml());
});

afterAll(async () => {
  await fixture.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { timeout: 60_000, env: { ...process.env, STILLPOINT_ADMIN_TOKEN: '' } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('stillpoint k8s pause', () => {
  it('prints one upstream-shaped JSON line and exits 0', async () => {
    const { code, stdout, stderr } = await run([
      'k8s', 'pause', '-r', fixture.release, '-n', fixture.namespace, '-d', '100', '-z', 'Europe/Berlin', '--kubeconfig', kubeconfig,
    ]);
    expect(stderr).toContain('attempt 1: paused');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const json = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(json).toMatchObject({ namespace: 'ns-scalar', helm_release_name: 'prod-db', timezone: 'Europe/Berlin', attempts: 1 });
    expect(json['pause_end_timestamp_ms']).toBeGreaterThanOrEqual((json['pause_start_timestamp_ms'] as number) + 50);
    expect(fixture.nodes.every((n) => !n.gate.paused)).toBe(true);
    expect(fixture.nodes.every((n) => n.gate.stats().pausesTotal === 1)).toBe(true);
  });

  it('exits 2 on a bad flag and 1 when the release does not exist', async () => {
    const bad = await run(['k8s', 'pause', '-r', 'x', '--product', 'mysql', '--kubeconfig', kubeconfig]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('K8S_PRODUCT_INVALID');
    const missing = await run(['k8s', 'pause', '-r', 'nope', '-n', fixture.namespace, '--kubeconfig', kubeconfig, '--json']);
    expect(missing.code).toBe(1);
    expect((JSON.parse(missing.stderr.trim().split('\n').pop()!) as { error: { code: string } }).error.code).toBe(
      'K8S_RELEASE_NOT_FOUND',
    );
  });
});

// Runs after the pause tests (same fixture): scales the release away and back.
describe('stillpoint k8s scale-down / scale-up', () => {
  it('records the replica count and restores it from the file, as plan restore hooks would', async () => {
    const record = join(dir, 'replicas.json');
    const common = ['-r', fixture.release, '-n', fixture.namespace, '--product', fixture.product, '--kubeconfig', kubeconfig];
    const down = await run(['k8s', 'scale-down', ...common, '--record', record, '--json']);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout)).toEqual({ workload: 'Deployment/prod-db-scalardb-cluster', replicas_before: 2, replicas: 0 });
    const productPods = (): string[] =>
      [...fixture.fake.pods.values()].filter((p) => p.labels['app.kubernetes.io/app'] === 'scalardb-cluster').map((p) => p.phase);
    expect(productPods()).toEqual([]);

    const up = await run(['k8s', 'scale-up', ...common, '--replicas-from', record]);
    expect(up.code).toBe(0);
    expect(productPods()).toEqual(['Running', 'Running']);
  });
});
