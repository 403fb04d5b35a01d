import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { runRestore } from '../../src/orchestrator/restore.ts';
import { loadPlan, type Plan } from '../../src/plan/load-plan.ts';
import { demoGroup, seedBank, writeDemoPlan } from '../../src/lab/demo/demo-setup.ts';
import { bankInvariants } from '../../src/lab/bank/bank-invariants.ts';
import { startAdminNode, tempDir, type AdminNode } from './helpers.ts';
import { failCapture } from '../support/failpoints.ts';

describe('restore (bank group, real admin servers)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let node: AdminNode;
  let catalog: Catalog;
  let plan: Plan;
  let backupId: string;
  let planFile: string;
  const invariants = [bankInvariants];

  beforeEach(async () => {
    tmp = tempDir('sp-restore-');
    node = await startAdminNode();
    const dataDir = join(tmp.dir, 'data');
    await seedBank(demoGroup(dataDir), 10);
    const file = writeDemoPlan(tmp.dir, {
      addresses: [`127.0.0.1:${node.port}`],
      dataDir,
      leaseMs: 5000,
      minWindowMs: 0,
    });
    // Hooks write marker files so the test can see they ran once, in order.
    const text =
      readFileSync(file, 'utf8') +
      `restore:\n  hooks:\n    before: ["echo before-$STILLPOINT_BACKUP_ID >> ${tmp.dir}/hooks.log"]\n    after: ["echo after >> ${tmp.dir}/hooks.log"]\n`;
    writeFileSync(file, text);
    planFile = file;
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
    const report = await runRestore(catalog, { backupId, plan, invariants, intoDir: into, dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.plan.members.map((m) => m.member)).toEqual(['bank_a', 'bank_b', 'coordinator']);
    expect(report.plan.window!.midUtc).toMatch(/Z$/);
    expect(report.plan.members[0]!.steps.length).toBeGreaterThan(0);
    expect(report.plan.hooks.before).toHaveLength(1);
    expect(existsSync(into)).toBe(false);
    expect(existsSync(join(tmp.dir, 'hooks.log'))).toBe(false);
  });

  it('restores, sweeps and checks; hooks run once around it; a finished restore is not overwritten without --force', async () => {
    const into = join(tmp.dir, 'r');
    const report = await runRestore(catalog, { backupId, plan, invariants, intoDir: into });
    expect(report.ok).toBe(true);
    expect(report.state).toBe('restored');
    expect(report.check?.ok).toBe(true);
    expect(report.check?.stats.accounts).toBe(10);
    expect(report.members.map((m) => m.state)).toEqual(['restored', 'restored', 'restored']);
    expect(report.group?.namespaces).toEqual({
      bank_a: 'bank_a',
      bank_b: 'bank_b',
      coordinator: 'coordinator',
    });
    expect(readFileSync(join(tmp.dir, 'hooks.log'), 'utf8')).toBe(`before-${backupId}\nafter\n`);
    // Re-running a finished restore would overwrite writes made since (issue 11 row 3): refused without --force.
    await expect(runRestore(catalog, { backupId, plan, invariants, intoDir: into })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_NOT_EMPTY',
    });
    const forced = await runRestore(catalog, {
      backupId,
      plan,
      invariants,
      intoDir: into,
      force: true,
      check: false,
    });
    expect(forced).toMatchObject({ state: 'restored-unchecked', ok: false, check: null });
    // An unfinished one (crashed before it was marked restored) is redone without --force.
    for (const m of ['bank_a', 'bank_b', 'coordinator']) {
      const marker = join(into, `${m}.db.stillpoint-restore.json`);
      writeFileSync(marker, readFileSync(marker, 'utf8').replace('"restored"', '"in-progress"'));
    }
    expect((await runRestore(catalog, { backupId, plan, invariants, intoDir: into })).state).toBe('restored');
    // A target that is not ours is refused, and allowed with force.
    const foreign = join(tmp.dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'bank_a.db'), 'not a database this restore wrote');
    await expect(runRestore(catalog, { backupId, plan, invariants, intoDir: foreign })).rejects.toMatchObject(
      { code: 'RESTORE_TARGET_NOT_EMPTY' },
    );
    expect(
      (await runRestore(catalog, { backupId, plan, invariants, intoDir: foreign, force: true })).ok,
    ).toBe(true);
  });

  it("NEGATIVE: member 2's target holds data → refused before anything: nothing written to member 1, no hook ran, one event", async () => {
    const into = join(tmp.dir, 'r');
    mkdirSync(into);
    writeFileSync(join(into, 'bank_b.db'), "somebody else's data");
    writeFileSync(join(into, 'coordinator.db'), 'and more');
    // Old code restored bank_a and ran the before hook, then stopped at bank_b.
    const error = await runRestore(catalog, { backupId, plan, invariants, intoDir: into }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'RESTORE_TARGET_NOT_EMPTY' });
    expect(String((error as Error).message)).toContain('member bank_b');
    expect(String((error as Error).message)).toContain('member coordinator');
    expect(existsSync(join(into, 'bank_a.db'))).toBe(false);
    expect(existsSync(join(tmp.dir, 'hooks.log'))).toBe(false);
    const finished = catalog.events(backupId).filter((e) => e.type === 'restore-finished');
    expect(finished.at(-1)?.data).toMatchObject({ ok: false, state: 'refused' });
    // The dry run sees the same refusal and says so (the CLI exits non-zero on it).
    const dry = await runRestore(catalog, { backupId, plan, invariants, intoDir: into, dryRun: true });
    expect(dry).toMatchObject({ state: 'refused', ok: false });
    expect(dry.refusals.map((e) => e.code)).toEqual(['RESTORE_TARGET_NOT_EMPTY', 'RESTORE_TARGET_NOT_EMPTY']);
  });

  it('after hooks run after a member fails mid-restore; the event has a per-member result', async () => {
    const into = join(tmp.dir, 'r');
    // The before hook (which runs after every check passed) puts foreign data where bank_b goes: its restore fails.
    writeFileSync(
      planFile,
      readFileSync(planFile, 'utf8').replace(
        /before: \[.*\]/,
        `before: ["mkdir -p ${into} && echo intruder > ${into}/bank_b.db"]`,
      ),
    );
    const report = await runRestore(catalog, {
      backupId,
      plan: loadPlan(planFile),
      invariants,
      intoDir: into,
    });
    expect(report.state).toBe('failed');
    expect(report.members.find((m) => m.member === 'bank_b')).toMatchObject({
      state: 'failed',
      error: { code: 'RESTORE_TARGET_NOT_EMPTY' },
    });
    expect(report.members.filter((m) => m.state === 'restored').map((m) => m.member)).toEqual([
      'bank_a',
      'coordinator',
    ]);
    expect(readFileSync(join(tmp.dir, 'hooks.log'), 'utf8')).toBe('after\n');
    const finished = catalog.events(backupId).filter((e) => e.type === 'restore-finished');
    expect(finished).toHaveLength(1);
    expect(finished[0]?.data).toMatchObject({
      ok: false,
      state: 'failed',
      members: expect.arrayContaining([expect.objectContaining({ member: 'bank_b', state: 'failed' })]),
    });
  });

  it('issue 11 row 3: re-running a finished restore does not overwrite later writes (refused without --force)', async () => {
    const into = join(tmp.dir, 'r');
    expect((await runRestore(catalog, { backupId, plan, invariants, intoDir: into })).ok).toBe(true);
    const db = new Database(join(into, 'bank_a.db'));
    db.exec('CREATE TABLE written_after_restore (x)');
    db.close();
    await expect(runRestore(catalog, { backupId, plan, invariants, intoDir: into })).rejects.toMatchObject({
      code: 'RESTORE_TARGET_NOT_EMPTY',
    });
    const after = new Database(join(into, 'bank_a.db'), { readonly: true });
    expect(
      after.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'written_after_restore'").get(),
    ).toEqual({ n: 1 });
    after.close();
  });

  it('issue 19 item 4: a dry run inspects every target and is not ok when the restore would be refused', async () => {
    const into = join(tmp.dir, 'r');
    const first = await runRestore(catalog, { backupId, plan, invariants, intoDir: into, dryRun: true });
    expect(first.ok).toBe(true);
    expect(first.plan.members.map((m) => m.inspection.state)).toEqual(['absent', 'absent', 'absent']);
    await runRestore(catalog, { backupId, plan, invariants, intoDir: into });
    const again = await runRestore(catalog, { backupId, plan, invariants, intoDir: into, dryRun: true });
    expect(again.plan.members.map((m) => m.inspection.state)).toEqual(['restored', 'restored', 'restored']);
    expect(again.ok).toBe(false);
  });

  it('a damaged artifact stops the restore before anything is written or any hook runs', async () => {
    const artifact = catalog.get(backupId).artifacts.find((a) => a.member === 'bank_b')!;
    writeFileSync(join(plan.artifactsDir, artifact.key), 'damaged');
    const into = join(tmp.dir, 'r');
    await expect(runRestore(catalog, { backupId, plan, invariants, intoDir: into })).rejects.toMatchObject({
      code: 'ARTIFACT_CHECKSUM_MISMATCH',
    });
    expect(existsSync(into)).toBe(false);
    expect(existsSync(join(tmp.dir, 'hooks.log'))).toBe(false);
  });

  it('refuses to restore a backup that is not complete', async () => {
    const failed = await runBackup({ plan, catalog, failpoints: failCapture('bank_a') });
    expect(failed.state).toBe('failed');
    await expect(
      runRestore(catalog, { backupId: failed.backupId, plan, intoDir: join(tmp.dir, 'x') }),
    ).rejects.toMatchObject({ code: 'BACKUP_NOT_RESTORABLE' });
  });

  it('recorded hooks are never run from the catalog: without --plan the restore is refused before anything changes', async () => {
    const into = join(tmp.dir, 'r');
    // Old code ran the commands stored in the catalog (anyone who can write the catalog could run commands).
    await expect(runRestore(catalog, { backupId, invariants, intoDir: into })).rejects.toMatchObject({
      code: 'RESTORE_HOOKS_NEED_PLAN',
    });
    expect(existsSync(into)).toBe(false);
    expect(existsSync(join(tmp.dir, 'hooks.log'))).toBe(false);
  });

  it("runs the plan's hooks when they differ from the recorded ones, and shows both", async () => {
    writeFileSync(
      planFile,
      readFileSync(planFile, 'utf8').replace('echo after >>', 'echo after-from-plan >>'),
    );
    const current = loadPlan(planFile);
    const into = join(tmp.dir, 'r');
    const report = await runRestore(catalog, { backupId, plan: current, invariants, intoDir: into });
    expect(report.state).toBe('restored');
    expect(report.plan.recordedHooks?.after[0]).toContain('echo after >>');
    expect(report.plan.hooks.after[0]).toContain('after-from-plan');
    expect(readFileSync(join(tmp.dir, 'hooks.log'), 'utf8')).toBe(`before-${backupId}\nafter-from-plan\n`);
  });

  it("RESTORE_TARGET_NOT_EMPTY on another restore's leftover says it is one and how to remove it", async () => {
    const into = join(tmp.dir, 'r');
    mkdirSync(into);
    writeFileSync(join(into, 'bank_a.db'), 'half-written');
    writeFileSync(
      join(into, 'bank_a.db.stillpoint-restore.json'),
      JSON.stringify({ backupId: 'bk-other', sha256: 'x', state: 'in-progress' }),
    );
    const error = await runRestore(catalog, { backupId, plan, invariants, intoDir: into }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: 'RESTORE_TARGET_NOT_EMPTY',
      hint: expect.stringContaining(`rm -f ${join(into, 'bank_a.db')}`),
    });
    expect(String((error as Error).message)).toContain(
      'leftover of an unfinished restore of another backup (bk-other)',
    );
  });

  it('an interrupted restore still runs the after hooks', async () => {
    // `; true` makes sh fork sleep as a child instead of exec'ing it: the whole group must be stopped.
    writeFileSync(
      planFile,
      readFileSync(planFile, 'utf8').replace(/before: \[.*\]/, 'before: ["sleep 20.123; true"]'),
    );
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('interrupted')), 500);
    const report = await runRestore(catalog, {
      backupId,
      plan: loadPlan(planFile),
      invariants,
      intoDir: join(tmp.dir, 'r'),
      signal: controller.signal,
    });
    expect(report.state).toBe('failed');
    expect(report.members.every((m) => m.state === 'not-started')).toBe(true);
    expect(readFileSync(join(tmp.dir, 'hooks.log'), 'utf8')).toBe('after\n');
    await new Promise((r) => setTimeout(r, 200));
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain('sleep 20.123');
  });
});
