/**
 * `backups verify --level restore`: a restore drill of a real backup (the demo bank group on SQLite behind a
 * real admin node) into a temporary directory, the sweep and the checker; the result is recorded on the backup
 * and shown by `backups show` and `backups list`. A damaged artifact fails the checksum tier, and then no
 * drill runs (exit 1).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN } from '../../src/lab/demo/node-process.ts';
import { demoGroup, seedBank, writeDemoPlan } from '../../src/lab/demo/demo-setup.ts';
import { startAdminNode, tempDir, type AdminNode } from '../orchestrator/helpers.ts';

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CLI JSON output, shape asserted below
const lastJson = (text: string): any => JSON.parse(text.trim().split('\n').at(-1)!);
const drillDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('stillpoint-drill-'));

describe('CLI: backups verify --level restore', () => {
  const tmp = tempDir('sp-drill-');
  let node: AdminNode;
  let plan: string;
  beforeAll(async () => {
    node = await startAdminNode();
    const dataDir = join(tmp.dir, 'data');
    await seedBank(demoGroup(dataDir), 10);
    plan = writeDemoPlan(tmp.dir, {
      addresses: [`127.0.0.1:${node.port}`],
      dataDir,
      leaseMs: 5000,
      minWindowMs: 0,
    });
  });
  afterAll(async () => {
    await node.server.close();
    tmp.cleanup();
  });

  it('restores into scratch, checks, records the drill; show and list report it', async () => {
    const backup = await cli(['backup', '--plan', plan, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const id = lastJson(backup.stdout).backupId as string;

    const before = await cli(['backups', 'show', id, '--plan', plan]);
    expect(before.stdout).toContain('last restore drill: never');

    const dirsBefore = drillDirs();
    const drill = await cli(['backups', 'verify', id, '--level', 'restore', '--plan', plan, '--json']);
    expect(drill.code, drill.stdout + drill.stderr).toBe(0);
    const report = lastJson(drill.stdout);
    expect(report).toMatchObject({
      ok: true,
      restoreDrill: { ok: true, state: 'restored', checked: true, violations: 0 },
    });
    expect(drillDirs()).toEqual(dirsBefore); // the scratch directory is gone

    const show = await cli(['backups', 'show', id, '--plan', plan, '--json']);
    expect(lastJson(show.stdout).restoreDrill).toMatchObject({ ok: true, state: 'restored' });
    const human = await cli(['backups', 'show', id, '--plan', plan]);
    expect(human.stdout).toMatch(/last restore drill: PASSED/);
    const list = await cli(['backups', 'list', '--plan', plan, '--json']);
    expect(lastJson(list.stdout).backups[0].restoreDrill).toMatchObject({ ok: true });
    const verifyChain = await cli(['backups', 'verify', id, '--plan', plan, '--json']);
    expect(verifyChain.code).toBe(0); // the drill event keeps the catalog chain and record consistent

    // --into keeps the scratch copy for inspection.
    const into = join(tmp.dir, 'drill');
    const kept = await cli([
      'backups',
      'verify',
      id,
      '--level',
      'restore',
      '--into',
      into,
      '--plan',
      plan,
      '--json',
    ]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(existsSync(into) && readdirSync(into).length).toBeGreaterThan(0);

    // Damage an artifact: the checksum tier fails, no drill runs, exit 1; the last recorded drill stays.
    const artifact = lastJson(show.stdout).backup.artifacts[0].key as string;
    appendFileSync(join(tmp.dir, '.stillpoint', 'artifacts', ...artifact.split('/')), 'x');
    const bad = await cli(['backups', 'verify', id, '--level', 'restore', '--plan', plan, '--json']);
    expect(bad.code).toBe(1);
    expect(lastJson(bad.stdout)).toMatchObject({ ok: false, restoreDrill: null });
  }, 600_000);
});
