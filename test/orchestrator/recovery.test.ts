/**
 * Recovery by heartbeat (issue 11 rows 5, 6): a backup abandoned on ANOTHER host (another hostname, as every
 * CronJob pod has) is classified by any later run once its heartbeat is stale, and its targets are unpaused,
 * upstream-style targets without a lease included. Real admin servers on loopback, real SQLite catalogs.
 *
 * Negative control: the first test fails on the code before ownership by heartbeat (it compared the row's
 * host name with this host's and left the foreign backup in doubt forever).
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { resumeIncomplete } from '../../src/orchestrator/recovery.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import type { Target } from '../../src/pause/contract.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { startAdminNode, tempDir, writePlan, type AdminNode } from './helpers.ts';

const FIXTURE = join(import.meta.dirname, '..', 'catalog', 'fixtures', 'catalog-v1-unversioned.db');

/** Pauses `target` the way upstream scalar-admin is paused: no lease, so only an Unpause reopens it. */
async function pauseWithoutLease(target: Target): Promise<void> {
  const client = createPauseClient();
  try {
    await client.pauseAll([target]);
  } finally {
    client.close();
  }
}

describe('recovery by heartbeat (real admin servers, real SQLite catalog)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let node: AdminNode;
  let target: Target;
  let catalog: Catalog | undefined;

  beforeEach(async () => {
    tmp = tempDir('sp-recover-');
    node = await startAdminNode();
    target = { host: '127.0.0.1', port: node.port, label: `127.0.0.1:${node.port}` };
  });
  afterEach(async () => {
    catalog?.close();
    catalog = undefined;
    await node.server.close();
    tmp.cleanup();
  });

  it('a backup left paused by an orchestrator on another host is classified failed and its lease-less target unpaused', async () => {
    const file = join(tmp.dir, 'catalog.db');
    copyFileSync(FIXTURE, file);
    // The row an orchestrator in another pod wrote before it was SIGKILLed an hour ago (the first releases'
    // columns only: host name and PID).
    const raw = new Database(file);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    raw
      .prepare(
        `INSERT INTO backups (id, plan_digest, grp, mode, state, created_at, updated_at, attempts, owner_pid, owner_host, targets_json, artifacts_location)
         VALUES ('bk-20260101T000000Z-dead', 'x', 'g', 'snapshot', 'paused', ?, ?, 1, 1, 'backup-cronjob-28931-x7k2p', ?, ?)`,
      )
      .run(
        hourAgo,
        hourAgo,
        JSON.stringify([{ cluster: 'nodes', targets: [target], leaseMs: 2000 }]),
        tmp.dir,
      );
    raw.close();
    await pauseWithoutLease(target);
    expect(node.gate.paused).toBe(true);

    catalog = openCatalog(file);
    const recovered = await resumeIncomplete(catalog);
    expect(recovered.map((r) => [r.backupId, r.previousState])).toEqual([
      ['bk-20260101T000000Z-dead', 'paused'],
    ]);
    const after = catalog.get('bk-20260101T000000Z-dead');
    expect(after.state).toBe('failed');
    expect(after.reason).toMatch(/^ORCHESTRATOR_DIED/);
    expect(node.gate.paused).toBe(false);
    expect(catalog.incomplete()).toEqual([]);
    expect(catalog.verifyChain().ok).toBe(true);
  });

  it('a stale heartbeat is classified; a fresh one (any host) is left alone, and so are the targets it holds', async () => {
    catalog = openCatalog(join(tmp.dir, 'catalog.db'));
    const stored = [{ cluster: 'nodes', targets: [target], leaseMs: 2000 }];
    const make = (ownerId: string) => {
      const b = catalog!.createBackup({
        planDigest: 'x',
        group: 'g',
        mode: 'snapshot',
        members: [],
        artifactsLocation: tmp.dir,
        ownership: { ownerId, staleAfterMs: 9_000 },
      });
      catalog!.transition(b.id, 'pausing', { targets: stored });
      catalog!.transition(b.id, 'paused');
      return b.id;
    };
    const lost = make('own-lost');
    const live = make('own-live');
    expect(catalog.heartbeat(lost, 'own-lost', Date.now() - 60_000)).toBe(true);
    expect(catalog.heartbeat(live, 'own-live', Date.now())).toBe(true);
    // A heartbeat from someone else's owner id is refused.
    expect(catalog.heartbeat(live, 'own-lost', Date.now())).toBe(false);
    await pauseWithoutLease(target);

    const recovered = await resumeIncomplete(catalog);
    expect(recovered.map((r) => r.backupId)).toEqual([lost]);
    expect(recovered[0]!.heartbeatAgeMs).toBeGreaterThanOrEqual(60_000);
    // The live backup holds the same target paused: the stale one's recovery does not unpause it.
    expect(recovered[0]!.skippedTargets).toEqual([`nodes/${target.label}`]);
    expect(node.gate.paused).toBe(true);
    expect(catalog.get(live).state).toBe('paused');
    // The lost owner's heartbeat can no longer be renewed (its run was taken over), and it cannot complete.
    expect(catalog.heartbeat(lost, 'own-lost', Date.now())).toBe(false);
    expect(() => catalog!.transition(lost, 'complete')).toThrow(
      expect.objectContaining({ code: 'BACKUP_STATE_FINAL' }) as Error,
    );

    // Once the live one goes stale too, it is classified and the target unpaused.
    const later = await resumeIncomplete(catalog, { now: () => Date.now() + 10_000 });
    expect(later.map((r) => r.backupId)).toEqual([live]);
    expect(node.gate.paused).toBe(false);
  });

  it('a recoverer that lost the race (the heartbeat moved since it looked) classifies nothing', () => {
    catalog = openCatalog(join(tmp.dir, 'catalog.db'));
    const b = catalog.createBackup({
      planDigest: 'x',
      group: 'g',
      mode: 'single',
      members: [],
      artifactsLocation: tmp.dir,
      ownership: { ownerId: 'own-a', staleAfterMs: 9_000 },
    });
    const seen = catalog.get(b.id).owner!.heartbeatAtMs;
    catalog.heartbeat(b.id, 'own-a', seen + 1);
    expect(catalog.failIfStale(b.id, seen, 'ORCHESTRATOR_DIED: test')).toBe(false);
    expect(catalog.get(b.id).state).toBe('planned');
    expect(catalog.failIfStale(b.id, seen + 1, 'ORCHESTRATOR_DIED: test')).toBe(true);
    expect(catalog.get(b.id).state).toBe('failed');
  });

  it('a running backup renews its heartbeat (every lease/3) while paused, and stops once it ends', async () => {
    const plan = loadPlan(writePlan(tmp.dir, [node.port], { window: { minMs: 1500 } }));
    catalog = openCatalog(plan.catalogPath);
    const seen: Record<string, number> = {};
    const result = await runBackup({
      plan,
      catalog,
      onEvent: (e) => {
        if (e.type === 'state' && (e.state === 'captured' || e.state === 'validating'))
          seen[e.state] = catalog!.get(e.backupId).owner!.heartbeatAtMs;
      },
    });
    expect(result.state).toBe('complete');
    const owner = catalog.get(result.backupId).owner!;
    expect(owner.ownerId).toMatch(/^own-[0-9a-f]{16}$/);
    expect(owner.staleAfterMs).toBe(2 * 2000 + 5000);
    // Held ≥ 1.5 s with a 2 s lease: renewed at least twice between capture and validation.
    expect(seen.validating! - seen.captured!).toBeGreaterThanOrEqual(600);
    await new Promise((r) => setTimeout(r, 1000));
    expect(catalog.get(result.backupId).owner!.heartbeatAtMs).toBe(owner.heartbeatAtMs);
    // Another process's recovery leaves a finished backup alone, whatever its heartbeat's age.
    expect(await resumeIncomplete(catalog, { now: () => Date.now() + 3_600_000 })).toEqual([]);
  });
});
