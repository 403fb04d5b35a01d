import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { resolveMember } from '../../src/engines/registry.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { chooseMode, requiredWindowMs } from '../../src/orchestrator/modes.ts';
import { redactSecrets } from '../../src/redact.ts';
import { parsePlan } from '../../src/plan/load-plan.ts';
import { makeSqliteDb, startAdminNode, tempDir, type AdminNode } from './helpers.ts';

const sqliteMember = (name: string, path: string, namespaces: string[]) => ({
  name,
  engine: 'sqlite',
  connection: { kind: 'sqlite', path },
  namespaces,
});

describe('modes and window sizing', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('sp-modes-')));
  afterEach(() => tmp.cleanup());

  it('sizes the window from the clock samples: 2 × (|offset| + uncertainty) + margin, at least minMs', () => {
    const w = { minMs: 100, marginMs: 50, maxAttempts: 3, captureTimeoutMs: 30_000 };
    expect(requiredWindowMs(w, [])).toBe(100);
    expect(requiredWindowMs(w, [{ offsetMs: -200, uncertaintyMs: 10, rttMs: 20 }])).toBe(470);
    expect(
      requiredWindowMs(w, [
        { offsetMs: 5, uncertaintyMs: 1, rttMs: 2 },
        { offsetMs: 40, uncertaintyMs: 5, rttMs: 10 },
      ]),
    ).toBe(140);
  });

  it('derives single / snapshot modes from capabilities and rejects impossible ones', () => {
    const one = parsePlan(
      { version: 1, members: [sqliteMember('all', 'x.db', ['bank_a', 'coordinator'])] },
      { baseDir: tmp.dir },
    );
    const engines = (p: typeof one) =>
      p.members.map((m) => ({ name: m.name, capabilities: resolveMember(m).capabilities }));
    expect(chooseMode(one, engines(one))).toBe('single');
    const two = parsePlan(
      {
        version: 1,
        members: [sqliteMember('a', 'a.db', ['bank_a']), sqliteMember('c', 'c.db', ['coordinator'])],
      },
      { baseDir: tmp.dir },
    );
    expect(() => chooseMode(two, engines(two))).toThrow(
      expect.objectContaining({ code: 'PLAN_INVALID' }) as Error,
    );
    const withCluster = parsePlan(
      {
        ...{
          version: 1,
          members: [sqliteMember('a', 'a.db', ['bank_a']), sqliteMember('c', 'c.db', ['coordinator'])],
        },
        clusters: [{ name: 'n', targets: { addresses: ['127.0.0.1:1'] } }],
      },
      { baseDir: tmp.dir },
    );
    expect(chooseMode(withCluster, engines(withCluster))).toBe('snapshot');
  });

  it('single mode: one atomic member, no pause, complete', async () => {
    makeSqliteDb(join(tmp.dir, 'all.db'));
    const plan = parsePlan(
      { version: 1, members: [sqliteMember('all', 'all.db', ['bank_a', 'bank_b', 'coordinator'])] },
      { baseDir: tmp.dir },
    );
    const catalog = openCatalog(plan.catalogPath);
    try {
      const states: string[] = [];
      const r = await runBackup({
        plan,
        catalog,
        onEvent: (e) => {
          if (e.type === 'state') states.push(e.state);
        },
      });
      expect(r.mode).toBe('single');
      expect(r.state).toBe('complete');
      expect(catalog.get(r.backupId).targets).toEqual([]);
      expect(states).toContain('captured');
    } finally {
      catalog.close();
    }
  });

  it('pause-window mode holds the pause at least window.minMs', async () => {
    let node: AdminNode | undefined;
    try {
      node = await startAdminNode();
      for (const n of ['a', 'c']) makeSqliteDb(join(tmp.dir, `${n}.db`));
      const plan = parsePlan(
        {
          version: 1,
          mode: 'pause-window',
          window: { minMs: 400 },
          clusters: [{ name: 'n', targets: { addresses: [`127.0.0.1:${node.port}`] } }],
          members: [sqliteMember('a', 'a.db', ['bank_a']), sqliteMember('c', 'c.db', ['coordinator'])],
        },
        { baseDir: tmp.dir },
      );
      const catalog = openCatalog(plan.catalogPath);
      try {
        const r = await runBackup({ plan, catalog });
        expect(r.state).toBe('complete');
        expect(r.mode).toBe('pause-window');
        expect(r.window!.unpauseStartedAtMs - r.window!.pausedAtMs).toBeGreaterThanOrEqual(400);
        expect(node.gate.paused).toBe(false);
      } finally {
        catalog.close();
      }
    } finally {
      await node?.server.close();
    }
  });

  it('redacts secrets in printed values', () => {
    const out = redactSecrets({
      connection: { kind: 'postgres', password: 'pw', user: 'u' },
      token: 't',
      nested: [{ caPem: 'x' }],
    });
    expect(JSON.stringify(out)).not.toMatch(/"pw"|"t"|"x"/);
    expect(out.connection.user).toBe('u');
  });
});
