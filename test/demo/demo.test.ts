import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkGroup } from '../../src/checker/check.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { runDemo, type DemoEvent } from '../../src/lab/demo/demo.ts';
import { demoGroup } from '../../src/lab/demo/demo-setup.ts';
import { tempDir } from '../orchestrator/helpers.ts';

const tmp = tempDir('sp-demo-test-');
afterAll(() => tmp.cleanup());

describe('demo (3 real node processes, SQLite, bank workload)', () => {
  it('takes three consistent backups under load, restores and checks each; a mixed cut fails the checker', async () => {
    const events: DemoEvent[] = [];
    const report = await runDemo({
      dir: tmp.dir,
      backups: 3,
      intervalMs: 800,
      accounts: 20,
      concurrency: 4,
      onEvent: (e) => events.push(e),
    });
    expect(report.ok).toBe(true);
    expect(report.liveCheckOk).toBe(true);
    expect(report.backups).toHaveLength(3);
    for (const b of report.backups) {
      expect(b.state).toBe('complete');
      expect(b.checkOk).toBe(true);
      expect(b.windowMs).not.toBeNull();
    }
    // Under load: later backups hold more transfers than earlier ones.
    const transfers = report.backups.map((b) => b.transfersInRestore ?? 0);
    expect(transfers[2]!).toBeGreaterThan(transfers[0]!);
    expect(report.workload.committed).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'state' && e.state === 'paused')).toBe(true);
    expect(events.filter((e) => e.type === 'demo' && e.step === 'node-started')).toHaveLength(3);

    // Negative control: bank_b from the first backup with bank_a and the Coordinator from the third is not
    // a consistent cut; the checker must say so.
    const mixed = join(tmp.dir, 'mixed');
    mkdirSync(mixed);
    copyFileSync(join(tmp.dir, 'restore-3', 'bank_a.db'), join(mixed, 'bank_a.db'));
    copyFileSync(join(tmp.dir, 'restore-1', 'bank_b.db'), join(mixed, 'bank_b.db'));
    copyFileSync(join(tmp.dir, 'restore-3', 'coordinator.db'), join(mixed, 'coordinator.db'));
    const check = await checkGroup(demoGroup(mixed), {
      invariants: [bankInvariants],
      sweep: true,
      expiryMs: 0,
    });
    expect(check.ok).toBe(false);
    expect(check.violations.length).toBeGreaterThan(0);
  });

  it('runs to the end when its reader goes away (stdout closed early): no EPIPE crash, exit 0', async () => {
    const bin = fileURLToPath(new URL('../../bin/stillpoint.js', import.meta.url));
    const child = spawn(
      process.execPath,
      [bin, 'demo', '--backups', '1', '--accounts', '10', '--interval', '300', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.once('data', () => child.stdout.destroy()); // like `| head -1`
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });
});
