/**
 * An engine's `windowProblems` (the Cassandra engine reports a node that did not snapshot or a ring that
 * changed around the pause) makes the window invalid: the orchestrator discards the capture and retries the
 * attempt, and the backup completes on the retry. Real SQLite members and a real admin server; the engine
 * kind wraps the real sqlite kind and reports one problem on the first attempt.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/catalog.ts';
import type { EngineKind } from '../../src/engines/contract.ts';
import { registerEngineKind } from '../../src/engines/registry.ts';
import { sqliteEngine } from '../../src/engines/sqlite/engine.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { makeSqliteDb, startAdminNode, tempDir, type AdminNode } from './helpers.ts';

let tmp: ReturnType<typeof tempDir>;
let node: AdminNode;
let reported = 0;
let discarded = 0;

const flaky: EngineKind<unknown> = {
  kind: 'sqlite-ring-flap',
  parseOptions: (m) => sqliteEngine.parseOptions({ ...m, engine: 'sqlite' }),
  capabilities: (o) => sqliteEngine.capabilities(o as never),
  openBackup(ctx, options) {
    const inner = sqliteEngine.openBackup(ctx, options as never);
    // A delegate with every call bound to the real session, plus the window report.
    return {
      capabilities: inner.capabilities,
      preflight: (s) => inner.preflight(s),
      prepare: (s) => inner.prepare(s),
      capture: (s) => inner.capture(s),
      finish: (w, s) => inner.finish(w, s),
      horizon: (h, s) => inner.horizon(h, s),
      close: () => inner.close(),
      windowProblems: () => {
        reported += 1;
        return Promise.resolve(reported === 1 ? ['ring changed around the pause (test)'] : []);
      },
      discard: async () => {
        discarded += 1;
        await inner.discard();
      },
    };
  },
  openRestore: (ctx, options) => sqliteEngine.openRestore(ctx, options as never),
};

beforeAll(async () => {
  registerEngineKind(flaky);
  tmp = tempDir('sp-window-problems-');
  node = await startAdminNode();
});
afterAll(async () => {
  await node?.server.close();
  tmp?.cleanup();
});

it('a window problem reported by an engine after the unpause makes the attempt retry; the retry completes', async () => {
  mkdirSync(tmp.dir, { recursive: true });
  makeSqliteDb(join(tmp.dir, 'a.db'));
  makeSqliteDb(join(tmp.dir, 'b.db'));
  const plan = {
    version: 1,
    group: 'flap',
    clusters: [{ name: 'nodes', targets: { addresses: [`127.0.0.1:${node.port}`] }, leaseMs: 2000 }],
    members: [
      {
        name: 'a',
        engine: 'sqlite-ring-flap',
        connection: { kind: 'sqlite', path: './a.db' },
        namespaces: ['bank_a'],
      },
      {
        name: 'b',
        engine: 'sqlite',
        connection: { kind: 'sqlite', path: './b.db' },
        namespaces: ['bank_b', 'coordinator'],
      },
    ],
  };
  const file = join(tmp.dir, 'plan.yaml');
  writeFileSync(file, JSON.stringify(plan));
  const loaded = loadPlan(file);
  const catalog = openCatalog(loaded.catalogPath);
  try {
    const result = await runBackup({ plan: loaded, catalog });
    expect(result.state).toBe('complete');
    expect(result.attempts).toBe(2);
    expect(reported).toBe(2);
    expect(discarded).toBeGreaterThanOrEqual(1);
  } finally {
    catalog.close();
  }
}, 120_000);
