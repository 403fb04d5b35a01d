/** The pause CLI as users run it: a child process `node --import tsx src/main.ts …` against real servers. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, startNodes, stopNodes, type TestNode } from './helpers.ts';
import { startDnsServer, type DnsServer } from '../../src/lab/trials/srv-dns.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_TIMEOUT_MS = 90_000;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, done, stdout: () => stdout };
}

const run = (args: string[], env: Record<string, string> = {}) => start(args, env).done;

const INSTANT_LINE = (verb: string) =>
  new RegExp(`^${verb} at (\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d{3})?Z) UTC \\((\\d+)\\)$`);

/** Checks an upstream timestamp line: the ISO instant and the epoch ms must denote the same time. */
function instantOf(line: string, verb: string): number {
  const match = INSTANT_LINE(verb).exec(line);
  if (!match) throw new Error(`not an upstream "${verb}" line: ${JSON.stringify(line)}`);
  const epoch = Number(match[2]);
  if (Date.parse(match[1]!) !== epoch) throw new Error(`ISO ${match[1]} and epoch ${epoch} disagree`);
  return epoch;
}

describe('instantOf (the checker of the timestamp lines)', () => {
  it('accepts the upstream format and rejects near misses (negative control)', () => {
    expect(
      instantOf('Pause completed at 2026-11-22T04:08:24.123Z UTC (1795320504123)', 'Pause completed'),
    ).toBe(1795320504123);
    expect(instantOf('Pause completed at 2026-11-22T04:08:24Z UTC (1795320504000)', 'Pause completed')).toBe(
      1795320504000,
    );
    expect(() =>
      instantOf('Pause completed at 2026-11-22T04:08:24.123Z UTC (1795320504124)', 'Pause completed'),
    ).toThrow();
    expect(() =>
      instantOf('Pause completed at 2026-11-22 04:08:24 UTC (1795320504123)', 'Pause completed'),
    ).toThrow();
    expect(() =>
      instantOf('Pause completed at 2026-11-22T04:08:24.123Z (1795320504123)', 'Pause completed'),
    ).toThrow();
  });
});

describe('stillpoint scalar-admin (drop-in)', () => {
  let nodes: TestNode[];
  let list: string;
  beforeAll(async () => {
    nodes = await startNodes(2);
    list = nodes.map((n) => n.target.label).join(',');
  });
  afterEach(() => {
    for (const n of nodes) n.gate.unpause('test cleanup');
  });
  afterAll(() => stopNodes(nodes));

  it('PAUSE, CHECK_PAUSED (case-insensitive) and UNPAUSE print the upstream lines and exit 0', async () => {
    const before = Date.now();
    const paused = await run(['scalar-admin', '-c', 'PAUSE', '-a', list]);
    expect(paused.code).toBe(0);
    expect(instantOf(paused.stdout.trimEnd(), 'Pause completed')).toBeGreaterThanOrEqual(before);
    expect(nodes.every((n) => n.gate.paused)).toBe(true);

    const checked = await run(['scalar-admin', '-c', 'check_paused', '-a', list]);
    expect(checked.code).toBe(0);
    expect(JSON.parse(checked.stdout)).toEqual(
      Object.fromEntries(nodes.map((n) => [n.target.label, 'true'])),
    );

    const unpaused = await run(['scalar-admin', '--command', 'Unpause', '--addresses', list]);
    expect(unpaused.code).toBe(0);
    instantOf(unpaused.stdout.trimEnd(), 'Unpause started');
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
  });

  it('usage errors exit 2 with a one-line reason', async () => {
    const results = await Promise.all([
      run(['scalar-admin', '-c', 'STATS', '-a', list]),
      run(['scalar-admin', '-c', 'pause', '-a', list, '-s', '_x._tcp.example.test']),
      run(['scalar-admin', '-c', 'pause', '-a', '127.0.0.1']),
      run(['scalar-admin', '-a', list]),
      run(['scalar-admin', '-c', 'pause']),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    expect(
      results.map((r) => /\[([A-Z_]+)\]/.exec(r.stderr.split('\n')[0] ?? '')?.[1] ?? 'commander'),
    ).toEqual(['COMMAND_INVALID', 'TARGETS_CONFLICT', 'ADDRESS_INVALID', 'commander', 'TARGETS_MISSING']);
    expect(results[3].stderr.split('\n')[0]).toMatch(/required option '-c, --command/);
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
  });

  it('an unreachable target: exit 1, no "Pause completed" line, nothing left paused', async () => {
    const down = `127.0.0.1:${await closedPort()}`;
    const result = await run(['scalar-admin', '-c', 'PAUSE', '-a', `${list},${down}`]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/PAUSE_FAILED.*TARGET_UNREACHABLE/);
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
    expect(nodes.every((n) => n.gate.stats().pausesTotal >= 1)).toBe(true); // they were paused, then rolled back
  });
});

describe('stillpoint scalar-admin: SRV and TLS', () => {
  let dir: string;
  let nodes: TestNode[];
  let dns: DnsServer;
  let caPath: string;
  const name = '_scalardl-admin._tcp.ledger-headless.default.svc.cluster.local';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stillpoint-cli-tls-'));
    caPath = join(dir, 'cert.pem');
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
        '/CN=ledger.stillpoint.test',
        '-addext',
        'subjectAltName=DNS:ledger.stillpoint.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        caPath,
      ],
      { stdio: 'ignore' },
    );
    nodes = await startNodes(2, {
      tls: { certPem: readFileSync(caPath, 'utf8'), keyPem: readFileSync(join(dir, 'key.pem'), 'utf8') },
    });
    dns = await startDnsServer({
      [name]: nodes.map((n) => ({ target: n.target.host, port: n.target.port })),
    });
  });
  afterAll(async () => {
    await stopNodes(nodes);
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pauses the SRV name over TLS; without the CA it fails', async () => {
    const tls = ['--tls', '--ca-root-cert-path', caPath, '--override-authority', 'ledger.stillpoint.test'];
    const where = ['-s', name, '--dns-server', dns.address];
    const [paused, untrusted] = await Promise.all([
      run(['scalar-admin', '-c', 'pause', ...where, ...tls, '-m', '5000']),
      run([
        'scalar-admin',
        '-c',
        'check_paused',
        ...where,
        '--tls',
        '--override-authority',
        'ledger.stillpoint.test',
      ]),
    ]);
    expect(paused.code).toBe(0);
    instantOf(paused.stdout.trimEnd(), 'Pause completed');
    expect(nodes.every((n) => n.gate.paused)).toBe(true);
    expect(untrusted.code).toBe(1);
    for (const n of nodes) n.gate.unpause('test cleanup');
  });
});

describe('stillpoint pause | unpause | check-paused', () => {
  let nodes: TestNode[];
  let tokenNodes: TestNode[];
  let list: string;
  beforeAll(async () => {
    nodes = await startNodes(2);
    tokenNodes = await startNodes(1, { token: 'cli-token' });
    list = nodes.map((n) => n.target.label).join(',');
  });
  afterEach(() => {
    for (const n of [...nodes, ...tokenNodes]) n.gate.unpause('test cleanup');
  });
  afterAll(() => stopNodes([...nodes, ...tokenNodes]));

  it('pause --hold prints the window and mid-time and ends unpaused', async () => {
    const result = await run(['pause', '-a', list, '--hold', '300ms', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      window: { pausedAtMs: number; unpauseStartedAtMs: number; midMs: number; durationMs: number };
    };
    expect(report.ok).toBe(true);
    expect(report.window.durationMs).toBe(report.window.unpauseStartedAtMs - report.window.pausedAtMs);
    expect(report.window.durationMs).toBeGreaterThanOrEqual(300);
    expect(report.window.midMs).toBe(
      Math.floor((report.window.pausedAtMs + report.window.unpauseStartedAtMs) / 2),
    );
    expect(nodes.every((n) => n.gate.stats().pausesTotal >= 1 && !n.gate.paused)).toBe(true);
  });

  it('pause --hold unpauses on SIGINT', async () => {
    const proc = start(['pause', '-a', list, '--hold', '10m']);
    const until = Date.now() + CLI_TIMEOUT_MS;
    while (!proc.stdout().includes('Pause completed') && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    expect(nodes.every((n) => n.gate.paused)).toBe(true);
    proc.child.kill('SIGINT');
    const result = await proc.done;
    expect(result.code).toBe(130);
    expect(result.stdout).toMatch(/cut short by SIGINT/);
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
  });

  it('plain pause leaves the cluster paused with a warning; unpause and check-paused work', async () => {
    const paused = await run(['pause', '-a', list]);
    expect(paused.code).toBe(0);
    instantOf(paused.stdout.trimEnd(), 'Pause completed');
    expect(paused.stderr).toMatch(/stays paused until you run: stillpoint unpause -a /);
    expect(nodes.every((n) => n.gate.paused)).toBe(true);
    const checked = await run(['check-paused', '-a', list, '--json']);
    expect(checked.code).toBe(0);
    expect(JSON.parse(checked.stdout)).toMatchObject({ ok: true, allPaused: true });
    const unpaused = await run(['unpause', '-a', list]);
    expect(unpaused.code).toBe(0);
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
  });

  it('pause --hold always sends a lease: SIGKILL of the CLI mid-hold, the targets unpause within it', async () => {
    // Fails on the old CLI: without --lease no lease was sent and the targets stayed paused for good.
    const proc = start(['pause', '-a', list, '--hold', '30s']);
    const until = Date.now() + CLI_TIMEOUT_MS;
    while (!proc.stdout().includes('Pause completed') && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    expect(nodes.every((n) => n.gate.paused)).toBe(true);
    proc.child.kill('SIGKILL');
    await proc.done;
    const killedAt = Date.now();
    // The default lease of a 30 s hold is min(30 s, 10 s) + 5 s = 15 s.
    while (nodes.some((n) => n.gate.paused) && Date.now() - killedAt < 20_000)
      await new Promise((r) => setTimeout(r, 100));
    expect(nodes.some((n) => n.gate.paused)).toBe(false);
    expect(Date.now() - killedAt).toBeLessThan(16_000);
  }, 60_000);

  it('durations are bounded: --hold 1000h and --lease 9e9 exit 2 with DURATION_OUT_OF_RANGE, nothing paused', async () => {
    const [hold, lease] = await Promise.all([
      run(['pause', '-a', list, '--hold', '1000h']),
      run(['pause', '-a', list, '--lease', '9000000000']),
    ]);
    for (const r of [hold, lease]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/DURATION_OUT_OF_RANGE/);
    }
    expect(nodes.every((n) => n.gate.stats().pausesTotal === 0 || !n.gate.paused)).toBe(true);
  });

  it('a missing token: the target was never paused, no "unpause by hand", the hint names --token-file', async () => {
    const target = tokenNodes[0]!.target.label;
    const result = await run(['pause', '-a', `${target},${nodes[0]!.target.label}`, '--hold', '100ms'], {
      STILLPOINT_TOKEN: '',
      STILLPOINT_ADMIN_TOKEN: '',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/UNAUTHENTICATED/);
    expect(result.stderr).not.toMatch(/unpause by hand|could not unpause/i);
    expect(result.stderr).toMatch(/--token-file/);
    expect(nodes[0]!.gate.paused).toBe(false);
  });

  it('the token comes from --token-file or STILLPOINT_TOKEN', async () => {
    const target = tokenNodes[0]!.target.label;
    const dir = mkdtempSync(join(tmpdir(), 'stillpoint-token-'));
    try {
      writeFileSync(join(dir, 'token'), 'cli-token\n', { mode: 0o600 });
      const [fromFile, fromEnv] = await Promise.all([
        run(['check-paused', '-a', target, '--token-file', join(dir, 'token')], {
          STILLPOINT_ADMIN_TOKEN: '',
        }),
        run(['check-paused', '-a', target], { STILLPOINT_TOKEN: 'cli-token', STILLPOINT_ADMIN_TOKEN: '' }),
      ]);
      expect([fromFile.code, fromEnv.code]).toEqual([0, 0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the token comes from STILLPOINT_ADMIN_TOKEN; a wrong one fails with exit 1 and nothing paused', async () => {
    const target = tokenNodes[0]!.target.label;
    const [wrong, right] = await Promise.all([
      run(['pause', '-a', target, '--hold', '100ms'], { STILLPOINT_ADMIN_TOKEN: 'nope' }),
      run(['check-paused', '-a', target], { STILLPOINT_ADMIN_TOKEN: 'cli-token' }),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/UNAUTHENTICATED/);
    expect(right.code).toBe(0);
    expect(tokenNodes[0]!.gate.stats().pausesTotal).toBe(0);
  });
});
