import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN } from '../../src/lab/demo/node-process.ts';
import { startAdminNode, tempDir, writePlan, type AdminNode } from '../orchestrator/helpers.ts';

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CLI JSON output, shape asserted below
const lastJson = (text: string): any => JSON.parse(text.trim().split('\n').at(-1)!);

describe('CLI: backup, backups, restore', () => {
  const tmp = tempDir('sp-cli-');
  let node: AdminNode;
  let plan: string;
  beforeAll(async () => {
    node = await startAdminNode();
    plan = writePlan(tmp.dir, [node.port]);
  });
  afterAll(async () => {
    await node.server.close();
    tmp.cleanup();
  });

  it('backs up twice, lists, shows, verifies, restores, prunes; detects a damaged artifact', async () => {
    const first = await cli(['backup', '--plan', plan, '--json']);
    expect(first.code).toBe(0);
    const events = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; state?: string });
    expect(events.some((e) => e.type === 'state' && e.state === 'paused')).toBe(true);
    const id1 = lastJson(first.stdout).backupId as string;
    const second = await cli(['backup', '--plan', plan]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/COMPLETE/);

    const list = lastJson((await cli(['backups', 'list', '--plan', plan, '--json'])).stdout);
    expect(list.backups).toHaveLength(2);
    expect(list.backups[0].id).toBe(id1);

    const verified = await cli(['backups', 'verify', id1, '--plan', plan, '--json']);
    expect(verified.code).toBe(0);
    expect(lastJson(verified.stdout).ok).toBe(true);

    const dry = await cli([
      'restore',
      id1,
      '--plan',
      plan,
      '--dry-run',
      '--into',
      join(tmp.dir, 'r'),
      '--json',
    ]);
    expect(dry.code).toBe(0);
    expect(lastJson(dry.stdout).plan.members).toHaveLength(3);

    const restored = await cli(['restore', id1, '--plan', plan, '--into', join(tmp.dir, 'r'), '--no-check']);
    // Not checked: restored-unchecked, exit 3 (never 0, which means proven).
    expect(restored.code).toBe(3);
    expect(restored.stdout).toMatch(/state: restored-unchecked/);

    const pruned = await cli(['backups', 'prune', '--keep-last', '1', '--plan', plan, '--json']);
    expect((lastJson(pruned.stdout).deleted as { backupId: string }[]).map((d) => d.backupId)).toEqual([id1]);

    const list2 = lastJson((await cli(['backups', 'list', '--plan', plan, '--json'])).stdout);
    const id2 = list2.backups[0].id as string;
    const show = lastJson((await cli(['backups', 'show', id2, '--plan', plan, '--json'])).stdout);
    const key = show.backup.artifacts[0].key as string;
    writeFileSync(join(tmp.dir, '.stillpoint', 'artifacts', key), 'damaged');
    const bad = await cli(['backups', 'verify', id2, '--plan', plan, '--json']);
    expect(bad.code).toBe(1);
    expect((lastJson(bad.stdout).artifacts as { ok: boolean }[]).some((a) => !a.ok)).toBe(true);
  });

  it('SIGINT while paused: the CLI unpauses, records ABORTED and exits 1', async () => {
    mkdirSync(join(tmp.dir, 'long'));
    const longPlan = writePlan(join(tmp.dir, 'long'), [node.port], { window: { minMs: 60_000 } });
    const child = spawn(process.execPath, [CLI_BIN, 'backup', '--plan', longPlan, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"state":"captured"') && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(node.gate.paused).toBe(false);
    const result = lastJson(out);
    expect(result.state).toBe('failed');
    expect(result.reason).toMatch(/^ABORTED/);
  });

  it('a malformed plan exits 2 with PLAN_INVALID naming the key, and pauses nothing', async () => {
    const badPlan = join(tmp.dir, 'bad.yaml');
    writeFileSync(badPlan, 'version: 1\nmembers: []\nclustrs: []\n');
    const r = await cli(['backup', '--plan', badPlan, '--json']);
    expect(r.code).toBe(2);
    const err = JSON.parse(r.stderr.trim().split('\n').at(-1)!).error;
    expect(err.code).toBe('PLAN_INVALID');
    expect(err.context.key).toBeDefined();
    expect(node.gate.stats().pausesTotal).toBe(3);
  });
});
