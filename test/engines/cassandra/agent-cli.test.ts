/**
 * `stillpoint agent` as operators run it (a child process): the ready line, the token guard, path checks, and
 * the listener rule (a non-loopback address without token and TLS is refused). Needs no Cassandra: nodetool
 * is only called by the data routes, which the snapshot test covers on a real node.
 */
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('stillpoint agent (CLI)', () => {
  let child: ReturnType<typeof spawn>;
  let url: string;
  beforeAll(async () => {
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/main.ts',
        'agent',
        '--port',
        '0',
        '--token-env',
        'AGENT_TOKEN',
        '--json',
        '--data-dir',
        '/nonexistent',
      ],
      { env: { ...process.env, AGENT_TOKEN: 't0ken' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.includes('"ready"'));
        if (line !== undefined) resolve((JSON.parse(line) as { url: string }).url);
      });
      child.once('exit', (code) => reject(new Error(`agent exited ${code}`)));
    });
  }, 60_000);
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  it('refuses calls without the token and paths outside the snapshots', async () => {
    expect((await fetch(`${url}/v1/identity`)).status).toBe(401);
    const res = await fetch(`${url}/v1/file?path=../../etc/passwd`, {
      headers: { authorization: 'Bearer t0ken' },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('AGENT_BAD_PATH');
  });

  it('refuses a non-loopback listener without token and TLS (exit 2)', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'agent', '--host', '0.0.0.0', '--port', '0'],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr + r.stdout).toMatch(/LISTENER_INSECURE/);
  });
});
