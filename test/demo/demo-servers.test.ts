/**
 * `npm run demo -- --group postgres+mariadb` (issue 19 item 6): the SQLite demo's story on throwaway
 * PostgreSQL + MariaDB servers, a PITR and a logical backup under load, every restore CHECKED with the bank
 * invariants; the servers are stopped and the temp dir removed at the end, also on SIGINT.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runDemo, type DemoEvent } from '../../src/lab/demo/demo.ts';

const BIN = fileURLToPath(new URL('../../bin/stillpoint.js', import.meta.url));

/** Server processes whose command line mentions `dir` (postgres, mariadbd). */
async function serversUnder(dir: string): Promise<string[]> {
  const ps = spawn('ps', ['-eo', 'pid,args'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  ps.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => ps.on('close', resolve));
  return out.split('\n').filter((line) => line.includes(dir) && !line.includes('ps -eo'));
}

describe('demo --group postgres+mariadb (throwaway servers from the lab)', () => {
  it('a PITR and a logical backup under load, each restore CHECKED; servers stopped and dir removed', async () => {
    const events: DemoEvent[] = [];
    const report = await runDemo({
      group: 'postgres+mariadb',
      backups: 2,
      intervalMs: 600,
      accounts: 10,
      concurrency: 3,
      onEvent: (e) => events.push(e),
    });
    expect(report.liveCheckOk).toBe(true);
    expect(report.backups.map((b) => b.method)).toEqual(['pitr', 'logical']);
    for (const b of report.backups) {
      expect(b.state).toBe('complete');
      expect(b.checkOk).toBe(true); // the checker ran (not skipped) and found the restore consistent
      expect(b.violations).toBe(0);
    }
    expect(report.ok).toBe(true);
    expect(
      events
        .filter((e) => e.type === 'demo' && e.step === 'checked')
        .map((e) => (e.type === 'demo' ? e.detail : '')),
    ).toEqual([
      expect.stringContaining('CHECKED, consistent'),
      expect.stringContaining('CHECKED, consistent'),
    ]);
    expect(existsSync(report.dir)).toBe(false);
    expect(await serversUnder(report.dir)).toEqual([]);
  }, 300_000);

  it('SIGINT after the servers started: they are stopped and the temp dir removed', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'demo', '--group', 'postgres+mariadb', '--backups', '1', '--accounts', '5', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let dir: string | undefined;
    let buffered = '';
    const started = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const setup = buffered.split('\n').find((l) => l.includes('"step":"setup"'));
        if (setup !== undefined && dir === undefined) {
          dir = (JSON.parse(setup) as { detail: string }).detail.split(':')[0];
          resolve();
        }
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await started;
    expect(dir).toMatch(/stillpoint-demo-/);
    expect((await serversUnder(dir!)).length).toBeGreaterThan(0);
    child.kill('SIGINT');
    const code = await exited;
    expect(code).not.toBe(0);
    expect(existsSync(dir!)).toBe(false);
    expect(await serversUnder(dir!)).toEqual([]);
  }, 300_000);
});
