import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan, type Plan } from '../../src/plan/load-plan.ts';
import { demoGroup, seedBank, writeDemoPlan } from '../../src/demo/demo-setup.ts';
import { startAdminNode, tempDir, type AdminNode } from './helpers.ts';

describe('restore (bank group, real admin servers)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let node: AdminNode;
  let catalog: Catalog;
  let plan: Plan;
  let backupId: string;

  beforeEach(async () => {
    tmp = tempDir('sp-restore-');
    node = await startAdminNode();
    const dataDir = join(tmp.dir, 'data');
    await seedBank(demoGroup(dataDir), 10);
    const file = writeDemoPlan(tmp.dir, { addresses: [`127.0.0.1:${node.port}`], dataDir, leaseMs: 5000, minWindowMs: 0 });
    // Hooks write marker files so the test can see they ran once, in order.
    const text = readFileSync(file, 'utf8') + `restore:\n  hooks:\n    before: ["echo before-$STILLPOINT_BACKUP_ID >> ${tmp.dir}/hooks.log"]\n    after: ["echo after >> ${tmp.dir}/hooks.log"]\n`;
    writeFileSync(file, text);
    plan = loadPlan(file);
    catalog = openCatalog(plan.catalogPath);
    const result = await runBackup({ plan, catalog });
    expect(result.state).toBe('complete');
    backupId = result.backupId;
  });
  afterEach(async () => {
    catalog.close();
    await node.server.close();
    tmp.cleanup();
  });

  it('dry run prints the plan in UTC and changes nothing', async () => {
    const into = join(tmp.dir, 'r');
    const report = await runRestore(catalog, { backupId, intoDir: into, dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.plan.members.map((m) => m.member)).toEqual(['bank_a', 'bank_b', 'coordinator']);
    expect(report.plan.window!.midUtc).toMatch(/Z$/);
    expect(report.plan.members[0]!.steps.length).toBeGreaterThan(0);
    expect(report.plan.hooks.before).toHaveLength(1);
    expect(existsSync(into)).toBe(false);
    expect(existsSync(join(tmp.dir, 'hooks.log'))).toBe(false);
  });

  it('restores, sweeps and checks; hooks run once around it; re-run is safe; foreign targets need --force', async () => {
    const into = join(tmp.dir, 'r');
    const report = await runRestore(catalog, { backupId, intoDir: into });
    expect(report.ok).toBe(true);
    expect(report.check?.ok).toBe(true);
    expect(report.check?.stats.accounts).toBe(10);
    expect(report.group?.namespaces).toEqual({ bank_a: 'bank_a', bank_b: 'bank_b', coordinator: 'coordinator' });
    expect(readFileSync(join(tmp.dir, 'hooks.log'), 'utf8')).toBe(`before-${backupId}\nafter\n`);
    // A finished restore is not redone without --force (it may have been written to since).
    await expect(runRestore(catalog, { backupId, intoDir: into, check: false })).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    // An unfinished one (crashed before the check marked it restored) is redone without --force.
    const marker = join(into, 'bank_a.db.stillpoint-restore.json');
    writeFileSync(marker, readFileSync(marker, 'utf8').replace('"restored"', '"in-progress"'));
    for (const m of ['bank_b', 'coordinator']) writeFileSync(join(into, `${m}.db.stillpoint-restore.json`), readFileSync(join(into, `${m}.db.stillpoint-restore.json`), 'utf8').replace('"restored"', '"in-progress"'));
    expect((await runRestore(catalog, { backupId, intoDir: into, check: false })).ok).toBe(true);
    // A target that is not ours is refused — before any hook runs — and allowed with force.
    const foreign = join(tmp.dir, 'foreign');
    await runRestore(catalog, { backupId, intoDir: foreign, check: false });
    writeFileSync(join(foreign, 'bank_a.db.stillpoint-restore.json'), '{}');
    const hooksBefore = readFileSync(join(tmp.dir, 'hooks.log'), 'utf8');
    await expect(runRestore(catalog, { backupId, intoDir: foreign })).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    expect(readFileSync(join(tmp.dir, 'hooks.log'), 'utf8')).toBe(hooksBefore);
    expect((await runRestore(catalog, { backupId, intoDir: foreign, force: true })).ok).toBe(true);
  });

  it('issue 11 row 3: re-running a finished restore does not overwrite later writes (refused without --force)', async () => {
    const into = join(tmp.dir, 'r');
    expect((await runRestore(catalog, { backupId, intoDir: into })).ok).toBe(true);
    const db = new Database(join(into, 'bank_a.db'));
    db.exec('CREATE TABLE written_after_restore (x)');
    db.close();
    await expect(runRestore(catalog, { backupId, intoDir: into })).rejects.toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    const after = new Database(join(into, 'bank_a.db'), { readonly: true });
    expect(after.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'written_after_restore'").get()).toEqual({ n: 1 });
    after.close();
  });

  it('issue 19 item 4: a dry run inspects every target and is not ok when the restore would be refused', async () => {
    const into = join(tmp.dir, 'r');
    const first = await runRestore(catalog, { backupId, intoDir: into, dryRun: true });
    expect(first.ok).toBe(true);
    expect(first.plan.members.map((m) => m.inspection.state)).toEqual(['absent', 'absent', 'absent']);
    await runRestore(catalog, { backupId, intoDir: into });
    const again = await runRestore(catalog, { backupId, intoDir: into, dryRun: true });
    expect(again.plan.members.map((m) => m.inspection.state)).toEqual(['restored', 'restored', 'restored']);
    expect(again.ok).toBe(false);
  });

  it('a damaged artifact stops the restore before anything is written or any hook runs', async () => {
    const artifact = catalog.get(backupId).artifacts.find((a) => a.member === 'bank_b')!;
    writeFileSync(join(plan.artifactsDir, artifact.key), 'damaged');
    const into = join(tmp.dir, 'r');
    await expect(runRestore(catalog, { backupId, intoDir: into })).rejects.toMatchObject({ code: 'ARTIFACT_CHECKSUM_MISMATCH' });
    expect(existsSync(into)).toBe(false);
    expect(existsSync(join(tmp.dir, 'hooks.log'))).toBe(false);
  });

  it('refuses to restore a backup that is not complete', async () => {
    const failed = await runBackup({ plan, catalog, failpoints: ['fail-capture:bank_a'] });
    expect(failed.state).toBe('failed');
    await expect(runRestore(catalog, { backupId: failed.backupId, intoDir: join(tmp.dir, 'x') })).rejects.toMatchObject({ code: 'BACKUP_NOT_RESTORABLE' });
  });
});
