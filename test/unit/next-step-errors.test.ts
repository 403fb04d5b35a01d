/**
 * Issue 19 item 8: error messages that say what to do next. Asserts codes and hints, not prose:
 * an unreachable node names `stillpoint check-paused -a <address>`; a mistyped plan key suggests the right
 * one and names the member; a failed backup prints its reason once (it was printed three times) and its
 * progress lines on stderr carry the `stillpoint backup:` label. Old code: no check-paused hint, no
 * suggestion, the reason three times on stdout without a label.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { loadPlan, parsePlan } from '../../src/plan/load-plan.ts';
import { tempDir, writePlan } from '../orchestrator/helpers.ts';

const CLI = fileURLToPath(new URL('../../bin/stillpoint.js', import.meta.url));
const tmp = tempDir('sp-next-step-');
afterAll(() => tmp.cleanup());

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('errors that say what to do next', () => {
  it('an unreachable node: PAUSE_FAILED whose hint says how to check the node (check-paused -a host:port)', async () => {
    const port = await closedPort();
    const plan = loadPlan(writePlan(tmp.dir, [port]));
    const catalog = openCatalog(plan.catalogPath);
    try {
      const result = await runBackup({ plan, catalog });
      expect(result.state).toBe('failed');
      expect(result.reason).toMatch(/^PAUSE_FAILED: .*TARGET_UNREACHABLE/);
      expect(result.hint).toContain(`stillpoint check-paused -a 127.0.0.1:${port}`);
    } finally {
      catalog.close();
    }
  });

  it('the CLI prints the failure once, with its hint; progress lines on stderr carry a label', async () => {
    const port = await closedPort();
    const run = await cli(['backup', '--plan', writePlan(tmp.dir, [port])]);
    expect(run.code).toBe(1);
    const all = run.stdout + run.stderr;
    expect(all.split('TARGET_UNREACHABLE').length - 1).toBe(1);
    expect(run.stdout).toContain(`check-paused -a 127.0.0.1:${port}`);
    const progress = run.stderr.trim().split('\n');
    expect(progress.length).toBeGreaterThan(2);
    for (const line of progress) expect(line).toMatch(/^stillpoint backup: /);
  }, 60_000);

  it('an unknown plan key suggests the schema key it is closest to and names the member', () => {
    const good = {
      version: 1,
      group: 'g',
      clusters: [],
      artifacts: { dir: './art' },
      catalog: { path: './c.db' },
    };
    const members = [
      {
        name: 'ledger',
        engine: 'sqlite',
        connection: { kind: 'sqlite', path: './a.db' },
        namespaces: ['bank_a', 'coordinator'],
        option: { x: 1 },
      },
    ];
    const error = (() => {
      try {
        parsePlan({ ...good, members }, { baseDir: tmp.dir });
      } catch (e) {
        return e as { code: string; hint: string; message: string };
      }
      throw new Error('accepted');
    })();
    expect(error.code).toBe('PLAN_INVALID');
    expect(error.hint).toContain('"options"');
    expect(error.message).toContain('member "ledger"');
    // A key far from every schema key gets no guess.
    const { option: _option, ...plain } = members[0]!;
    const far = (() => {
      try {
        parsePlan({ ...good, members: [{ ...plain, zzzzzzzz: 1 }] }, { baseDir: tmp.dir });
      } catch (e) {
        return e as { hint: string };
      }
      throw new Error('accepted');
    })();
    expect(far.hint).not.toContain('Did you mean');
  });
});
