/**
 * Coordinator-cleanup capture ordering (issue 13 item 5): ScalarDB 3.19 deletes a transaction's Coordinator
 * row once its records are final, and a missing row reads as "aborted". If a user member is captured with a
 * record still PREPARED and the Coordinator member after the row's deletion, the restore rolls back a
 * committed transaction. The member holding the Coordinator namespace must therefore be captured first,
 * its capture ending before any other member's begins (modes.ts captureStage). The cleanup here is the
 * same two steps on plain SQLite tables, run at the worst moment the orchestrator's order allows.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import type { StorageConfig } from '../../src/txn/contract.ts';
import { startAdminNode, tempDir, waitFor, writePlan, type AdminNode } from './helpers.ts';

function sql(path: string, statement: string): { v: string }[] {
  const db = new Database(path);
  try {
    const prepared = db.prepare(statement);
    return prepared.reader ? (prepared.all() as { v: string }[]) : (prepared.run(), []);
  } finally {
    db.close();
  }
}

describe('capture order: the Coordinator member first', () => {
  let tmp: ReturnType<typeof tempDir>;
  let node: AdminNode;
  let catalog: Catalog | undefined;

  beforeEach(async () => {
    tmp = tempDir('sp-order-');
    node = await startAdminNode();
  });
  afterEach(async () => {
    catalog?.close();
    catalog = undefined;
    await node.server.close();
    tmp.cleanup();
  });

  it('a cleanup running during the captures cannot pair a PREPARED user record with a deleted Coordinator row (failed before: captured concurrently, torn)', async () => {
    const plan = loadPlan(writePlan(tmp.dir, [node.port]));
    catalog = openCatalog(plan.catalogPath);
    const a = join(tmp.dir, 'a.db');
    const coord = join(tmp.dir, 'coord.db');
    // Row 1 of coord is the transaction's Coordinator row (COMMITTED); row 1 of a its record, still PREPARED.
    sql(coord, `UPDATE t SET v = 'COMMITTED' WHERE id = 1`);
    sql(a, `UPDATE t SET v = 'PREPARED' WHERE id = 1`);

    const timeline: string[] = [];
    const captured = new Set<string>();
    const result = await runBackup({
      plan,
      catalog,
      onEvent: (e) => {
        if (e.type === 'member' && e.step === 'captured') {
          timeline.push(`captured:${e.member}`);
          captured.add(e.member);
        }
      },
      failpoints: {
        beforeCapture: async (member) => {
          timeline.push(`begin:${member}`);
          if (member !== 'coord') return;
          await new Promise((r) => setImmediate(r)); // captures started in the same turn have begun by now
          // The latest moment the order allows: after every user capture that has already begun.
          const begun = timeline.filter((t) => t.startsWith('begin:') && t !== 'begin:coord');
          await waitFor(() => begun.every((b) => captured.has(b.slice(6))), 30_000, 'user captures');
          // Lazy recovery rolls the record forward, then the Coordinator cleanup deletes the row.
          sql(a, `UPDATE t SET v = 'FINAL' WHERE id = 1`);
          sql(coord, 'DELETE FROM t WHERE id = 1');
        },
      },
    });
    expect(result.state).toBe('complete');

    const report = await runRestore(catalog, {
      backupId: result.backupId,
      plan,
      intoDir: join(tmp.dir, 'restored'),
      check: false,
    });
    const path = (member: string): string => {
      const entry = report.restored.find((r) => r.member === member);
      return (entry?.connection as Extract<StorageConfig, { kind: 'sqlite' }>).path;
    };
    const row = sql(path('coord'), 'SELECT v FROM t WHERE id = 1');
    const record = sql(path('a'), 'SELECT v FROM t WHERE id = 1')[0]?.v;
    // Consistent pairs only: the row still there (COMMITTED), or gone with the record already final.
    if (row.length === 0) expect(record).toBe('FINAL');
    else expect(row[0]?.v).toBe('COMMITTED');
    // Happens-before: the Coordinator's capture ends before any other member's capture begins.
    const coordDone = timeline.indexOf('captured:coord');
    for (const m of ['a', 'b']) expect(timeline.indexOf(`begin:${m}`)).toBeGreaterThan(coordDone);
  }, 60_000);
});
