/** Restore hooks through the one child-process runner: exit codes, env, and a deadline that kills the whole group. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { runHooks } from '../../src/orchestrator/restore-hooks.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Running (a zombie waiting for a reaper that may never come in a container counts as gone). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('runHooks', () => {
  it('runs each hook with the env given and stops at the first non-zero exit with RESTORE_HOOK_FAILED', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-hooks-'));
    const out = join(dir, 'out');
    const results = await runHooks(
      [`echo "$WHO" > ${out}`],
      { WHO: 'restore' },
      new AbortController().signal,
    );
    expect(results.map((r) => r.exitCode)).toEqual([0]);
    expect(readFileSync(out, 'utf8').trim()).toBe('restore');
    await expect(
      runHooks(['exit 3', `touch ${out}.never`], {}, new AbortController().signal),
    ).rejects.toMatchObject({
      code: 'RESTORE_HOOK_FAILED',
      context: { results: [{ command: 'exit 3', exitCode: 3 }] },
    });
  });

  it('a deadline kills the hook and the children it started (its process group)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-hooks-'));
    const pidFile = join(dir, 'pid');
    const started = Date.now();
    await expect(
      runHooks([`sleep 30 & echo $! > ${pidFile}; wait`], {}, new AbortController().signal, 500),
    ).rejects.toMatchObject({ code: 'RESTORE_HOOK_FAILED' });
    expect(Date.now() - started).toBeLessThan(5_000);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 20 && alive(grandchild); i += 1) await sleep(50);
    expect(alive(grandchild)).toBe(false);
  });
});
