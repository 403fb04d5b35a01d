/**
 * Groups kept between trials (src/lab/trials/group-pool.ts): reused only when the previous trial left them
 * whole and the next wants the same nodes, at most `reuse` times; otherwise closed and built again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TrialDatabases, TrialGroupServers } from '../../src/lab/trials/group.ts';
import { GroupPool, type BuildGroup } from '../../src/lab/trials/group-pool.ts';
import type { TrialNode } from '../../src/lab/trials/nodes.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A build that counts groups made and closed; its nodes run until `stopNode` is called. */
function fakeBuild() {
  const made = { built: 0, closed: 0 };
  const nodes: Array<{ running: boolean }> = [];
  const build: BuildGroup = (_dir, _servers, cleanups) => {
    made.built += 1;
    cleanups.push(() => Promise.resolve(void (made.closed += 1)));
    const node = { running: true, proxy: { setMode: () => undefined } };
    nodes.push(node);
    const databases = { proxies: new Map() } as unknown as TrialDatabases;
    return Promise.resolve({ databases, nodes: [node as unknown as TrialNode] });
  };
  return { made, nodes, build };
}

const servers = {} as TrialGroupServers;

async function pool(reuse: number): Promise<GroupPool> {
  const dir = await mkdtemp(join(tmpdir(), 'group-pool-'));
  dirs.push(dir);
  return new GroupPool(dir, reuse);
}

describe('GroupPool', () => {
  it('reuses a whole group up to `reuse` trials, then builds a fresh one', async () => {
    const { made, build } = fakeBuild();
    const p = await pool(3);
    const reused: boolean[] = [];
    for (let i = 0; i < 4; i += 1) {
      const lease = await p.acquire('sqlite', servers, 'k', true, build);
      reused.push(lease.reused);
      await lease.release(true);
    }
    expect(reused).toEqual([false, true, true, false]);
    expect(made).toEqual({ built: 2, closed: 1 });
    await p.close();
    expect(made.closed).toBe(2);
  });

  it('never reuses a group a trial did not leave whole, with a dead node, other settings, or unpoolable nodes', async () => {
    const { made, nodes, build } = fakeBuild();
    const p = await pool(10);
    await (await p.acquire('sqlite', servers, 'k', true, build)).release(false);
    expect(made).toEqual({ built: 1, closed: 1 });
    const second = await p.acquire('sqlite', servers, 'k', true, build);
    expect(second.reused).toBe(false);
    nodes[1]!.running = false;
    await second.release(true);
    expect(made).toEqual({ built: 2, closed: 2 });
    await (await p.acquire('sqlite', servers, 'k', true, build)).release(true);
    const other = await p.acquire('sqlite', servers, 'other', true, build);
    expect(other.reused).toBe(false);
    await other.release(true);
    const offset = await p.acquire('sqlite', servers, 'other', false, build);
    expect(offset.reused).toBe(false);
    await offset.release(true);
    expect(made).toEqual({ built: 5, closed: 5 });
    await p.close();
  });
});
