import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import type { BackupEvent } from '../../src/orchestrator/events.ts';
import { resumeIncomplete } from '../../src/orchestrator/recovery.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { failCapture, hangCapture } from '../support/failpoints.ts';
import { startAdminNode, tempDir, waitFor, writePlan, type AdminNode } from './helpers.ts';

describe('backup orchestrator (real admin servers, real SQLite)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let nodes: AdminNode[];
  let catalog: Catalog | undefined;

  beforeEach(async () => {
    tmp = tempDir('sp-orch-');
    nodes = [await startAdminNode(), await startAdminNode()];
  });
  afterEach(async () => {
    catalog?.close();
    catalog = undefined;
    await Promise.all(nodes.map((n) => n.server.close()));
    tmp.cleanup();
  });

  const open = (file: string) => {
    const plan = loadPlan(file);
    catalog = openCatalog(plan.catalogPath);
    return { plan, catalog };
  };

  it('takes a complete snapshot-mode backup: paused once, unpaused, artifacts checksummed, chain intact', async () => {
    const { plan, catalog } = open(
      writePlan(
        tmp.dir,
        nodes.map((n) => n.port),
      ),
    );
    const states: string[] = [];
    let pausedDuringCapture = false;
    const result = await runBackup({
      plan,
      catalog,
      onEvent: (e: BackupEvent) => {
        if (e.type === 'state') states.push(e.state);
        if (e.type === 'member' && e.step === 'captured')
          pausedDuringCapture = nodes.every((n) => n.gate.paused);
      },
    });
    expect(result.state).toBe('complete');
    expect(result.mode).toBe('snapshot');
    expect(states).toEqual([
      'planned',
      'preflight',
      'pausing',
      'paused',
      'captured',
      'unpausing',
      'validating',
      'finishing',
      'complete',
    ]);
    expect(pausedDuringCapture).toBe(true);
    expect(nodes.every((n) => !n.gate.paused && n.gate.stats().pausesTotal === 1)).toBe(true);
    expect(result.members.map((m) => m.state)).toEqual(['complete', 'complete', 'complete']);
    const record = catalog.get(result.backupId);
    expect(record.artifacts).toHaveLength(3);
    expect(record.window!.unpauseStartedAtMs).toBeGreaterThanOrEqual(record.window!.pausedAtMs);
    expect(record.targets[0]!.targets).toHaveLength(2);
    expect(catalog.verifyChain().ok).toBe(true);
    expect(catalog.verifyRecordAgainstLog(result.backupId)).toEqual([]);
  });

  it('a member failing capture: everything unpaused and released, backup failed, catalog consistent', async () => {
    const { plan, catalog } = open(
      writePlan(
        tmp.dir,
        nodes.map((n) => n.port),
      ),
    );
    const result = await runBackup({ plan, catalog, failpoints: failCapture('b') });
    expect(result.state).toBe('failed');
    expect(result.reason).toMatch(/^CAPTURE_FAILED/);
    expect(nodes.every((n) => !n.gate.paused)).toBe(true);
    const byName = Object.fromEntries(result.members.map((m) => [m.name, m.state]));
    expect(byName).toEqual({ a: 'released', b: 'failed', coord: 'released' });
    expect(catalog.get(result.backupId).artifacts).toEqual([]);
    expect(catalog.verifyChain().ok).toBe(true);
  });

  it('a capture stuck past the capture deadline: attempt given up, everything unpaused, backup failed', async () => {
    const { plan, catalog } = open(
      writePlan(
        tmp.dir,
        nodes.map((n) => n.port),
        { window: { captureTimeoutMs: 300 } },
      ),
    );
    // Without the deadline this never returns: the lease is renewed and the cluster stays paused.
    const result = await runBackup({ plan, catalog, failpoints: hangCapture('b') });
    expect(result.state).toBe('failed');
    expect(result.reason).toMatch(/^CAPTURE_TIMEOUT: capture of b did not end/);
    expect(nodes.every((n) => !n.gate.paused)).toBe(true);
    const byName = Object.fromEntries(result.members.map((m) => [m.name, m.state]));
    expect(byName).toEqual({ a: 'released', b: 'failed', coord: 'released' });
    expect(catalog.verifyChain().ok).toBe(true);
  });

  it('a node restarted during the window makes it invalid; the backup retries and completes', async () => {
    const { plan, catalog } = open(
      writePlan(
        tmp.dir,
        nodes.map((n) => n.port),
        { window: { minMs: 300 } },
      ),
    );
    let restarted = false;
    const restart = async (): Promise<void> => {
      const old = nodes[1]!;
      await old.server.close();
      nodes[1] = await startAdminNode(old.port); // comes back unpaused, like a restarted pod
    };
    let pending: Promise<void> | undefined;
    const windows: boolean[] = [];
    const result = await runBackup({
      plan,
      catalog,
      onEvent: (e) => {
        if (e.type === 'state' && e.state === 'captured' && !restarted) {
          restarted = true;
          pending = restart();
        }
        if (e.type === 'window') windows.push(e.valid);
      },
    });
    await pending;
    expect(windows).toEqual([false, true]);
    expect(result.state).toBe('complete');
    expect(result.attempts).toBe(2);
    expect(catalog.events(result.backupId).filter((e) => e.type === 'window')).toHaveLength(2);
    expect(nodes.every((n) => !n.gate.paused)).toBe(true);
  });

  it('gives up as invalid after maxAttempts, always unpausing', async () => {
    const { plan, catalog } = open(
      writePlan(
        tmp.dir,
        nodes.map((n) => n.port),
        { window: { minMs: 100, maxAttempts: 2 } },
      ),
    );
    const result = await runBackup({
      plan,
      catalog,
      // Someone unpauses node 0 behind our back in every attempt.
      onEvent: (e) => {
        if (e.type === 'state' && e.state === 'captured') nodes[0]!.gate.unpause('test');
      },
    });
    expect(result.state).toBe('invalid');
    expect(result.reason).toMatch(/^WINDOW_INVALID/);
    expect(result.attempts).toBe(2);
    expect(nodes.every((n) => !n.gate.paused)).toBe(true);
  });

  it("a silent node fails the pause within the plan's callTimeoutMs plus the drain, and the others unpause", async () => {
    // Accepts connections and never answers: a node behind a dropped network path.
    const held: Socket[] = [];
    const silent = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const addresses = [`127.0.0.1:${nodes[0]!.port}`, `127.0.0.1:${silentPort}`];
      const { plan, catalog } = open(
        writePlan(tmp.dir, [], {
          clusters: [
            { name: 'nodes', targets: { addresses }, leaseMs: 2000, drainTimeoutMs: 200, callTimeoutMs: 300 },
          ],
          window: { maxAttempts: 1 },
        }),
      );
      expect(plan.clusters[0]!.callTimeoutMs).toBe(300);
      const started = Date.now();
      const result = await runBackup({ plan, catalog });
      expect(result.state).toBe('failed');
      expect(result.reason).toMatch(/DEADLINE_EXCEEDED/);
      expect(nodes[0]!.gate.paused).toBe(false);
      // The default deadline alone (10 000 ms plus the drain) is longer than this whole backup took.
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('malformed plan: PLAN_INVALID and nothing paused', () => {
    const file = writePlan(
      tmp.dir,
      nodes.map((n) => n.port),
      { window: { minMs: 10, bogus: true } },
    );
    expect(() => loadPlan(file)).toThrow(expect.objectContaining({ code: 'PLAN_INVALID' }) as Error);
    expect(nodes.every((n) => n.gate.stats().pausesTotal === 0)).toBe(true);
  });

  it('preflight failure pauses nothing', async () => {
    const { plan, catalog } = open(
      writePlan(
        tmp.dir,
        nodes.map((n) => n.port),
      ),
    );
    const broken = {
      ...plan,
      members: plan.members.map((m) =>
        m.name === 'a'
          ? { ...m, connection: { kind: 'sqlite' as const, path: join(tmp.dir, 'missing.db') } }
          : m,
      ),
    };
    const result = await runBackup({ plan: broken, catalog });
    expect(result.state).toBe('failed');
    expect(result.reason).toMatch(/^PREFLIGHT_FAILED/);
    expect(nodes.every((n) => n.gate.stats().pausesTotal === 0)).toBe(true);
  });

  it('an abort while paused unpauses and records ABORTED', async () => {
    const { plan, catalog } = open(
      writePlan(
        tmp.dir,
        nodes.map((n) => n.port),
        { window: { minMs: 5000 } },
      ),
    );
    const controller = new AbortController();
    const result = await runBackup({
      plan,
      catalog,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'state' && e.state === 'captured')
          setTimeout(() => controller.abort(new Error('SIGINT')), 50);
      },
    });
    expect(result.state).toBe('failed');
    expect(result.reason).toMatch(/^ABORTED/);
    expect(nodes.every((n) => !n.gate.paused)).toBe(true);
  });

  it('orchestrator SIGKILLed while paused: nodes unpause by lease, the next run classifies it failed', async () => {
    const file = writePlan(
      tmp.dir,
      nodes.map((n) => n.port),
    );
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/orchestrator/fixtures/backup-killed-after-pause.ts', file],
      {
        cwd: join(import.meta.dirname, '..', '..'),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exit = await new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    expect(exit).toBe('SIGKILL');
    expect(nodes.every((n) => n.gate.paused)).toBe(true); // nobody unpaused them...
    await waitFor(() => nodes.every((n) => !n.gate.paused), 10_000, 'lease expiry'); // ...until the lease lapsed
    expect(nodes.every((n) => n.gate.stats().leaseExpiriesTotal === 1)).toBe(true);
    const { plan, catalog } = open(file);
    const [left] = catalog.incomplete();
    expect(left?.state).toBe('paused');
    // Its heartbeat stopped with it, but is not stale yet (bound: 2 × 2000 ms lease + 5 s): left alone...
    expect(await resumeIncomplete(catalog, { plan })).toEqual([]);
    // ...and classified once the bound has passed.
    const recovered = await resumeIncomplete(catalog, { plan, now: () => Date.now() + 10_000 });
    expect(recovered.map((r) => r.previousState)).toEqual(['paused']);
    const after = catalog.get(left!.id);
    expect(after.state).toBe('failed');
    expect(after.reason).toMatch(/^ORCHESTRATOR_DIED/);
    expect(catalog.incomplete()).toEqual([]);
    expect(catalog.verifyChain().ok).toBe(true);
  });
});
