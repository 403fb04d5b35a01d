/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) over a catalog filled by
 * real backups of SQLite members paused through real admin servers: three complete backups and one failed in
 * between. The timeline shows all four, the failed one shows its reason, and the PITR window and RPO the page
 * shows equal the JSON API's. The screenshot lands in docs/images/ for docs/operating.md.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUi } from '../../scripts/build-ui.ts';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import { startServe, type RunningServe } from '../../src/serve/server.ts';
import type { PitrWindow, GroupRpo, TimelineRow } from '../../src/catalog/catalog-view.ts';
import { failCapture } from '../support/failpoints.ts';
import { startAdminNode, tempDir, writePlan, type AdminNode } from '../orchestrator/helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

describe.runIf(existsSync(CHROMIUM))('dashboard in a real browser', () => {
  let tmp: ReturnType<typeof tempDir>;
  let node: AdminNode;
  let catalog: Catalog;
  let serve: RunningServe;
  let browser: Browser;
  const ids: { complete: string[]; failed: string } = { complete: [], failed: '' };

  beforeAll(async () => {
    tmp = tempDir('sp-serve-');
    node = await startAdminNode();
    const plan = loadPlan(writePlan(tmp.dir, [node.port]));
    catalog = openCatalog(plan.catalogPath);
    for (const fail of [false, false, true, false]) {
      const r = await runBackup({ plan, catalog, ...(fail ? { failpoints: failCapture('b') } : {}) });
      expect(r.state).toBe(fail ? 'failed' : 'complete');
      if (fail) ids.failed = r.backupId;
      else ids.complete.push(r.backupId);
    }
    const uiDir = join(tmp.dir, 'ui');
    await buildUi(uiDir);
    serve = await startServe({ catalog, port: 0, uiDir });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 120_000 });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.close();
    catalog?.close();
    await node?.server.close();
    tmp?.cleanup();
  });

  const getJson = async <T>(path: string): Promise<T> => {
    const res = await fetch(new URL(path, serve.url));
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };

  it('shows every backup, the failed one with its reason, and the PITR window and RPO of the API', async () => {
    const { backups } = await getJson<{ backups: TimelineRow[] }>('/api/backups');
    expect(backups.map((b) => b.id).sort()).toEqual([...ids.complete, ids.failed].sort());
    const overview = await getJson<{ pitr: PitrWindow[]; rpo: GroupRpo[] }>('/api/overview');
    const pitr = overview.pitr.find((p) => p.group === 'test')!;
    expect(pitr.points.map((p) => p.backupId)).toEqual(ids.complete);
    expect(pitr.gaps).toHaveLength(1);
    expect(pitr.gaps[0]!.missed.map((m) => m.backupId)).toEqual([ids.failed]);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(serve.url);
      await page.getByTestId('overview').waitFor({ timeout: 60_000 });
      for (const id of [...ids.complete, ids.failed]) await page.getByTestId(`backup-${id}`).waitFor();
      const failedRow = page.getByTestId(`backup-${ids.failed}`);
      expect(await failedRow.getAttribute('data-state')).toBe('failed');
      const reason = await failedRow.getByTestId('reason').textContent();
      expect(reason).toMatch(/^CAPTURE_FAILED/);
      expect(reason).toBe(backups.find((b) => b.id === ids.failed)!.reason);

      expect(await page.getByTestId('pitr-from-test').textContent()).toBe(
        new Date(pitr.fromMs!).toISOString(),
      );
      expect(await page.getByTestId('pitr-to-test').textContent()).toBe(new Date(pitr.toMs!).toISOString());
      expect(await page.getByTestId('pitr-gap').textContent()).toContain(ids.failed);
      const rpo = overview.rpo.find((r) => r.group === 'test')!;
      expect(rpo.backupId).toBe(ids.complete.at(-1));
      // The page's RPO is the API's at the page's own fetch (a few ms later): same backup, within a minute.
      const shown = Number(await page.getByTestId('rpo-test').getAttribute('data-seconds'));
      expect(Math.abs(shown - rpo.rpoSeconds!)).toBeLessThan(60);

      mkdirSync('docs/images', { recursive: true });
      await page.screenshot({ path: 'docs/images/dashboard.png', fullPage: true });

      await failedRow.getByRole('link').click();
      await page.getByTestId('backup-page').waitFor();
      expect(await page.getByTestId('backup-page').getByTestId('reason').textContent()).toBe(reason);
    } finally {
      await page.close();
    }
  }, 180_000);

  it('is read-only: every write method is refused with 405', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(new URL('/api/backups', serve.url), { method });
      expect(res.status).toBe(405);
    }
    const one = await getJson<{ backup: { id: string }; events: unknown[] }>(`/api/backups/${ids.failed}`);
    expect(one.backup.id).toBe(ids.failed);
    expect(one.events.length).toBeGreaterThan(0);
    expect((await fetch(new URL('/api/backups/bk-nope', serve.url))).status).toBe(404);
  });
});
