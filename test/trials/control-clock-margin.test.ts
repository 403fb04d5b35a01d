/**
 * The negative control's copy of a clock-based member (a time handle: DynamoDB, Cosmos DB, rds,
 * azure-flexible) captures only once |offset| + uncertainty of the database's clock has passed since its
 * preflight: the control's window has no width, so a handle drawn sooner could lie before PITR was turned on
 * there (a campaign's dynamodb+postgres control failed so). Shown with a SQLite member dressed as clock-based,
 * whose clock reads 300 ms ahead ± 200 ms: the capture must start ≥ 500 ms after the preflight ended.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { EngineKind, MemberSpec } from '../../src/engines/contract.ts';
import { registerEngineKind } from '../../src/engines/registry.ts';
import { sqliteEngine } from '../../src/engines/sqlite/engine.ts';
import { copyWithoutPause } from '../../src/lab/trials/negative-control.ts';
import { createRandom } from '../../src/lab/trials/random.ts';
import { makeSqliteDb } from '../orchestrator/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'sp-control-clock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const times: { preflightEnded?: number; captureStarted?: number } = {};

const clockBased: EngineKind<unknown> = {
  kind: 'sqlite-clock-based',
  parseOptions: (m) => sqliteEngine.parseOptions({ ...m, engine: 'sqlite' }),
  capabilities: (o) => sqliteEngine.capabilities(o as never),
  openBackup(ctx, options) {
    const inner = sqliteEngine.openBackup(ctx, options as never);
    return {
      capabilities: { ...inner.capabilities, clockBased: true },
      preflight: async (s) => {
        const checks = await inner.preflight(s);
        times.preflightEnded = Date.now();
        return checks;
      },
      prepare: (s) => inner.prepare(s),
      measureClock: () => Promise.resolve({ offsetMs: 300, uncertaintyMs: 200, rttMs: 1 }),
      capture: (s) => {
        times.captureStarted = Date.now();
        return inner.capture(s);
      },
      finish: (w, s) => inner.finish(w, s),
      horizon: (h, s) => inner.horizon(h, s),
      close: () => inner.close(),
      discard: () => inner.discard(),
    };
  },
  openRestore: (ctx, options) => sqliteEngine.openRestore(ctx, options as never),
};

it('a clock-based member is captured |offset| + uncertainty after its preflight', async () => {
  registerEngineKind(clockBased);
  makeSqliteDb(join(dir, 'a.db'));
  const member: MemberSpec = {
    name: 'a',
    engine: 'sqlite-clock-based',
    connection: { kind: 'sqlite', path: join(dir, 'a.db') },
    namespaces: ['bank_a'],
    options: {},
  };
  // The copy's check may find no bank in this file; only the capture's timing is under test here.
  await copyWithoutPause(
    {
      members: [member],
      dir,
      restoreTarget: () => ({ path: join(dir, 'restored.db') }),
      random: createRandom(1),
      signal: new AbortController().signal,
    },
    1,
  ).catch(() => undefined);
  expect(times.preflightEnded).toBeDefined();
  expect(times.captureStarted! - times.preflightEnded!).toBeGreaterThanOrEqual(500);
});
