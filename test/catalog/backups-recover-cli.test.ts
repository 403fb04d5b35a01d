/**
 * The real CLI on a real catalog, store and admin server (issue 11 rows 5–9, issue 19 item 8): `backups
 * recover` classifies a backup lost on another host and removes what crashes left; `delete` refuses a
 * backup that is not terminal; `prune` never deletes a group's last complete backup without --allow-empty;
 * `list --state/--group` filter.
 *
 * Negative controls (on the code before this change): `delete` of the paused backup exited 0 and removed
 * it; `prune --keep-within 1ms` deleted the only complete backup; `recover` and `--state` did not exist.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArtifactStore } from '../../src/artifacts/open-store.ts';
import { openCatalog } from '../../src/catalog/catalog.ts';
import { CLI_BIN } from '../../src/lab/demo/node-process.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { createPauseClient } from '../../src/pause/pause-client.ts';
import { loadPlan, type Plan } from '../../src/plan/load-plan.ts';
import { startAdminNode, tempDir, writePlan, type AdminNode } from '../orchestrator/helpers.ts';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CLI JSON output, shape asserted below
const lastJson = (text: string): any => JSON.parse(text.trim().split('\n').at(-1)!);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CLI JSON error, shape asserted below
const errorJson = (r: CliResult): any => JSON.parse(r.stderr.trim().split('\n').at(-1)!).error;

/** The `key` field of every item of a JSON array. */
const pluck = (items: unknown, key: string): unknown[] =>
  (items as Record<string, unknown>[]).map((x) => x[key]);

const HOUR_AGO_S = (Date.now() - 3_600_000) / 1000;

describe('CLI: backups recover, delete refusal, prune floor, list filters', () => {
  const tmp = tempDir('sp-recover-cli-');
  const tempCopies = join(tmp.dir, 'systmp');
  let node: AdminNode;
  let planFile: string;
  let plan: Plan;
  let completeId: string;
  let lostId: string;
  let failedId: string;

  beforeAll(async () => {
    node = await startAdminNode();
    planFile = writePlan(tmp.dir, [node.port]);
    plan = loadPlan(planFile);
    const catalog = openCatalog(plan.catalogPath);
    try {
      completeId = (await runBackup({ plan, catalog })).backupId;
      // Lost: an orchestrator on another host paused the node (no lease, as upstream scalar-admin) and died.
      const target = { host: '127.0.0.1', port: node.port, label: `127.0.0.1:${node.port}` };
      const lost = catalog.createBackup({
        planDigest: plan.digest,
        group: plan.group,
        mode: 'snapshot',
        members: plan.members,
        artifactsLocation: plan.artifactsDir,
        ownership: { ownerId: 'own-other-host', staleAfterMs: 9_000 },
      });
      catalog.transition(lost.id, 'pausing', {
        targets: [{ cluster: 'nodes', targets: [target], leaseMs: 2000 }],
      });
      catalog.transition(lost.id, 'paused');
      catalog.heartbeat(lost.id, 'own-other-host', Date.now() - 120_000);
      lostId = lost.id;
      const client = createPauseClient();
      await client.pauseAll([target]).finally(() => client.close());
      // Failed: a backup whose finish wrote one member's file before another member failed.
      const failed = catalog.createBackup({
        planDigest: plan.digest,
        group: plan.group,
        mode: 'snapshot',
        members: plan.members,
        artifactsLocation: plan.artifactsDir,
      });
      failedId = failed.id;
      const store = openArtifactStore(plan.artifactsDir);
      catalog.recordArtifacts(failed.id, 'a', [
        await store.put(`${failed.id}/a/snapshot.sqlite`, 'partial backup'),
      ]);
      catalog.transition(failed.id, 'failed', { reason: 'FINISH_FAILED: b: disk full' });
    } finally {
      catalog.close();
    }
    // A crash mid-put in the store, and the SQLite engine's temp copies (one old, one young = maybe running).
    const partial = join(plan.artifactsDir, completeId, 'a', 'snapshot.sqlite.tmp-0badc0de');
    writeFileSync(partial, 'half a snapshot');
    utimesSync(partial, HOUR_AGO_S, HOUR_AGO_S);
    mkdirSync(tempCopies);
    writeFileSync(join(tempCopies, 'stillpoint-sqlite-0123456789ab.db'), 'old copy');
    utimesSync(join(tempCopies, 'stillpoint-sqlite-0123456789ab.db'), HOUR_AGO_S, HOUR_AGO_S);
    writeFileSync(join(tempCopies, 'stillpoint-sqlite-ba9876543210.db'), 'young copy');
    writeFileSync(join(tempCopies, 'unrelated.db'), 'not ours');
    utimesSync(join(tempCopies, 'unrelated.db'), HOUR_AGO_S, HOUR_AGO_S);
  });
  afterAll(async () => {
    await node.server.close();
    tmp.cleanup();
  });

  it('list filters by state and group; a bad state is a usage error', async () => {
    const complete = lastJson(
      (await cli(['backups', 'list', '--state', 'complete', '--plan', planFile, '--json'])).stdout,
    );
    expect(pluck(complete.backups, 'id')).toEqual([completeId]);
    const paused = lastJson(
      (await cli(['backups', 'list', '--state', 'paused', '--group', 'test', '--plan', planFile, '--json']))
        .stdout,
    );
    expect(pluck(paused.backups, 'id')).toEqual([lostId]);
    const none = lastJson(
      (await cli(['backups', 'list', '--group', 'other', '--plan', planFile, '--json'])).stdout,
    );
    expect(none.backups).toEqual([]);
    const bad = await cli(['backups', 'list', '--state', 'done', '--plan', planFile, '--json']);
    expect(bad.code).toBe(2);
    expect(errorJson(bad).code).toBe('FLAG_INVALID');
  });

  it('delete refuses a backup that is not terminal, pointing at recover', async () => {
    const r = await cli(['backups', 'delete', lostId, '--plan', planFile, '--json']);
    expect(r.code).toBe(1);
    const err = errorJson(r);
    expect(err.code).toBe('BACKUP_NOT_TERMINAL');
    expect(err.hint).toMatch(/backups recover/);
    const all = lastJson((await cli(['backups', 'list', '--plan', planFile, '--json'])).stdout);
    expect(all.backups).toHaveLength(3);
  });

  it('recover classifies the lost backup, unpauses its target, and removes leftovers (keeping young temp files)', async () => {
    expect(node.gate.paused).toBe(true);
    const r = await cli(['backups', 'recover', '--plan', planFile, '--json', '--min-age', '10m'], {
      TMPDIR: tempCopies,
    });
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; kind?: string; name?: string });
    expect(
      lines
        .filter((l) => l.type === 'leftover-removed')
        .map((l) => l.kind)
        .sort(),
    ).toEqual(['failed-backup-file', 'partial-write', 'temp-copy']);
    const result = lastJson(r.stdout);
    expect(pluck(result.recovered, 'backupId')).toEqual([lostId]);
    expect(pluck(result.leftovers.kept, 'name')).toEqual(['stillpoint-sqlite-ba9876543210.db']);
    expect(node.gate.paused).toBe(false);
    expect(existsSync(join(plan.artifactsDir, completeId, 'a', 'snapshot.sqlite.tmp-0badc0de'))).toBe(false);
    expect(existsSync(join(plan.artifactsDir, failedId, 'a', 'snapshot.sqlite'))).toBe(false);
    expect(existsSync(join(tempCopies, 'stillpoint-sqlite-0123456789ab.db'))).toBe(false);
    expect(existsSync(join(tempCopies, 'stillpoint-sqlite-ba9876543210.db'))).toBe(true);
    expect(existsSync(join(tempCopies, 'unrelated.db'))).toBe(true);

    const catalog = openCatalog(plan.catalogPath);
    try {
      expect(catalog.get(lostId)).toMatchObject({ state: 'failed' });
      expect(catalog.get(lostId).reason).toMatch(/^ORCHESTRATOR_DIED/);
      expect(catalog.get(failedId).state).toBe('failed'); // its row stays
      expect(catalog.events(failedId).some((e) => e.type === 'leftovers-removed')).toBe(true);
      expect(catalog.verifyChain().ok).toBe(true);
    } finally {
      catalog.close();
    }
    // The complete backup was not touched.
    expect((await cli(['backups', 'verify', completeId, '--plan', planFile])).code).toBe(0);
    // Once classified, it can be deleted.
    expect((await cli(['backups', 'delete', lostId, '--plan', planFile, '--json'])).code).toBe(0);
  });

  it('show and verify say what they count', async () => {
    const shown = await cli(['backups', 'show', completeId, '--plan', planFile]);
    expect(shown.stdout).toMatch(/3 artifacts; \d+ catalog events logged for this backup/);
    const verified = await cli(['backups', 'verify', completeId, '--plan', planFile]);
    expect(verified.stdout).toMatch(
      /catalog hash chain: intact \(\d+ catalog events checked, every backup's\)/,
    );
    expect(verified.stdout).toMatch(/artifacts: 3 checked \(sha256 and size\), all ok/);
    const json = lastJson(
      (await cli(['backups', 'verify', completeId, '--plan', planFile, '--json'])).stdout,
    );
    expect(json.counts).toMatchObject({ artifactsChecked: 3, artifactsBad: 0 });
  });

  it('prune --keep-within 1ms keeps the newest complete backup; only --allow-empty deletes it', async () => {
    const pruned = lastJson(
      (await cli(['backups', 'prune', '--keep-within', '1ms', '--plan', planFile, '--json'])).stdout,
    );
    expect(pruned.keptAsNewestComplete).toEqual([completeId]);
    expect(pluck(pruned.deleted, 'backupId')).toEqual([failedId]);
    const left = lastJson((await cli(['backups', 'list', '--plan', planFile, '--json'])).stdout);
    expect(pluck(left.backups, 'id')).toEqual([completeId]);
    const emptied = lastJson(
      (await cli(['backups', 'prune', '--keep-within', '1ms', '--allow-empty', '--plan', planFile, '--json']))
        .stdout,
    );
    expect(pluck(emptied.deleted, 'backupId')).toEqual([completeId]);
  });
});
