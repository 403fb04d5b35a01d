/**
 * `stillpoint k8s pause` as a user runs it: a child process with a kubeconfig FILE pointing at the fake API
 * server, pausing real admin servers. Checks the one JSON line on stdout and the exit codes.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', ...args],
      { timeout: 60_000, env: { ...process.env, STILLPOINT_ADMIN_TOKEN: '', STILLPOINT_TOKEN: '', ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('stillpoint k8s pause', () => {
  it('prints one upstream-shaped JSON line and exits 0', async () => {
    const { code, stdout, stderr } = await run([
      'k8s',
      'pause',
      '-r',
      fixture.release,
      '-n',
      fixture.namespace,
      '-d',
      '100',
      '-z',
      'Europe/Berlin',
      '--kubeconfig',
      kubeconfig,
    ]);
    expect(stderr).toContain('attempt 1: paused');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const json = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(json).toMatchObject({
      namespace: 'ns-scalar',
      helm_release_name: 'prod-db',
      timezone: 'Europe/Berlin',
      attempts: 1,
    });
    expect(json['pause_end_timestamp_ms']).toBeGreaterThanOrEqual(
      (json['pause_start_timestamp_ms'] as number) + 50,
    );
    expect(fixture.nodes.every((n) => !n.gate.paused)).toBe(true);
    expect(fixture.nodes.every((n) => n.gate.stats().pausesTotal === 1)).toBe(true);
  });

  it('exits 2 on a bad flag and 1 when the release does not exist', async () => {
    const bad = await run(['k8s', 'pause', '-r', 'x', '--product', 'mysql', '--kubeconfig', kubeconfig]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('K8S_PRODUCT_INVALID');
    const missing = await run([
      'k8s',
      'pause',
      '-r',
      'nope',
      '-n',
      fixture.namespace,
      '--kubeconfig',
      kubeconfig,
      '--json',
    ]);
    expect(missing.code).toBe(1);
    expect(
      (JSON.parse(missing.stderr.trim().split('\n').pop()!) as { error: { code: string } }).error.code,
    ).toBe('K8S_RELEASE_NOT_FOUND');
  });
});

describe('stillpoint k8s pause: TLS with the CA as PEM text, token sources, several releases, a workload', () => {
  let secure: ReleaseFixture;
  let auditor: ReleaseFixture;
  let pem: string;
  let tokenFile: string;
  beforeAll(async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=pod.stillpoint.test',
        '-addext',
        'subjectAltName=DNS:pod.stillpoint.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    pem = readFileSync(join(dir, 'cert.pem'), 'utf8');
    tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 's3cret\n', { mode: 0o600 });
    secure = await startReleaseFixture({
      fake: fixture.fake,
      firstOctet: 215,
      pods: 2,
      release: 'ledger',
      product: 'scalardl-ledger',
      envoy: false,
      tls: { certPem: pem, keyPem: readFileSync(join(dir, 'key.pem'), 'utf8') },
      token: 's3cret',
    });
    auditor = await startReleaseFixture({
      fake: fixture.fake,
      firstOctet: 225,
      pods: 1,
      release: 'auditor',
      product: 'scalardl-auditor',
      envoy: false,
    });
  });
  afterAll(async () => {
    await secure.close();
    await auditor.close();
  });
  const tls = () => [
    '--override-authority',
    'pod.stillpoint.test',
    '-d',
    '50',
    '--kubeconfig',
    kubeconfig,
    '-n',
    fixture.namespace,
  ];

  it('accepts the CA as PEM text (--ca-root-cert-pem) and the token from --token-file or $STILLPOINT_TOKEN', async () => {
    const pemRun = await run([
      'k8s',
      'pause',
      '-r',
      'ledger',
      '--ca-root-cert-pem',
      pem,
      '--token-file',
      tokenFile,
      ...tls(),
    ]);
    expect(pemRun.stderr).not.toContain('error');
    expect(pemRun.code).toBe(0);
    const envRun = await run(
      ['k8s', 'pause', '-r', 'ledger', '--ca-root-cert-path', join(dir, 'cert.pem'), ...tls()],
      { STILLPOINT_TOKEN: 's3cret' },
    );
    expect(envRun.code).toBe(0);
    expect(secure.nodes.every((n) => !n.gate.paused && n.gate.stats().pausesTotal === 2)).toBe(true);
    // Negative controls: no token is refused by the pods; PEM text that is not PEM is refused before anything.
    expect((await run(['k8s', 'pause', '-r', 'ledger', '--ca', join(dir, 'cert.pem'), ...tls()])).code).toBe(
      1,
    );
    const notPem = await run([
      'k8s',
      'pause',
      '-r',
      'ledger',
      '--ca-root-cert-pem',
      'cert.pem',
      '--json',
      ...tls(),
    ]);
    expect(notPem.code).toBe(2);
    expect(notPem.stderr).toContain('FLAG_INVALID');
    expect(secure.nodes.every((n) => !n.gate.paused && n.gate.stats().pausesTotal === 2)).toBe(true);
  });

  it('pauses several releases in one window (-r a -r b) and a workload by name with --admin-port', async () => {
    const both = await run([
      'k8s',
      'pause',
      '-r',
      fixture.release,
      '-r',
      `${fixture.namespace}/ledger`,
      '-d',
      '50',
      '--kubeconfig',
      kubeconfig,
      '-n',
      fixture.namespace,
      '--ca-root-cert-pem',
      pem,
      '--override-authority',
      'pod.stillpoint.test',
      '--token-file',
      tokenFile,
    ]);
    // One window for both: the plaintext release and the TLS one cannot share a connection setting, so this fails
    // as a whole (PAUSE_FAILED) and leaves nothing paused — all or nothing from the command line too.
    expect(both.code).toBe(1);
    expect([...fixture.nodes, ...secure.nodes].every((n) => !n.gate.paused)).toBe(true);

    const before = fixture.nodes.map((n) => n.gate.stats().pausesTotal);
    const plain = await run([
      'k8s',
      'pause',
      '-r',
      fixture.release,
      '-r',
      'auditor',
      '-d',
      '50',
      '--kubeconfig',
      kubeconfig,
      '-n',
      fixture.namespace,
    ]);
    expect(plain.code).toBe(0);
    const json = JSON.parse(plain.stdout.trim()) as {
      releases: { helm_release_name: string; product: string }[];
    };
    expect(json.releases.map((r) => [r.helm_release_name, r.product])).toEqual([
      [fixture.release, 'scalardb-cluster'],
      ['auditor', 'scalardl-auditor'],
    ]);
    expect(fixture.nodes.map((n) => n.gate.stats().pausesTotal)).toEqual(before.map((n) => n + 1));
    expect(auditor.nodes[0]!.gate.stats().pausesTotal).toBe(1);

    const byName = await run([
      'k8s',
      'pause',
      '--deployment',
      secure.fullname,
      '--admin-port',
      String(secure.port),
      ...tls(),
      '--ca-root-cert-pem',
      pem,
      '--token-file',
      tokenFile,
    ]);
    expect(byName.code).toBe(0);
    expect((JSON.parse(byName.stdout.trim()) as { helm_release_name: string }).helm_release_name).toBe(
      `deployment/${secure.fullname}`,
    );
    const noPort = await run([
      'k8s',
      'pause',
      '--deployment',
      secure.fullname,
      '--kubeconfig',
      kubeconfig,
      '-n',
      fixture.namespace,
      '--json',
    ]);
    expect(noPort.code).toBe(2);
    expect(noPort.stderr).toContain('K8S_SOURCE_INVALID');
  });
});

// Runs after the pause tests (same fixture): scales the release away and back.
describe('stillpoint k8s scale-down / scale-up', () => {
  it('records the replica count and restores it from the file, as plan restore hooks would', async () => {
    const record = join(dir, 'replicas.json');
    const common = [
      '-r',
      fixture.release,
      '-n',
      fixture.namespace,
      '--product',
      fixture.product,
      '--kubeconfig',
      kubeconfig,
    ];
    const down = await run(['k8s', 'scale-down', ...common, '--record', record, '--json']);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout)).toEqual({
      workload: 'Deployment/prod-db-scalardb-cluster',
      replicas_before: 2,
      replicas: 0,
    });
    const productPods = (): string[] =>
      [...fixture.fake.pods.values()]
        .filter((p) => p.labels['app.kubernetes.io/app'] === 'scalardb-cluster')
        .map((p) => p.phase);
    expect(productPods()).toEqual([]);

    const up = await run(['k8s', 'scale-up', ...common, '--replicas-from', record]);
    expect(up.code).toBe(0);
    expect(productPods()).toEqual(['Running', 'Running']);
  });
});
