/**
 * Prometheus metrics from a catalog filled by real SQLite backups (two complete, one failed): /metrics on
 * `serve` parses as the text exposition format, names follow the conventions (stillpoint_ prefix, base
 * units, _total counters), the figures equal the JSON API's, and `backup --metrics-file` writes the same
 * families atomically, mode 0600. Also: `serve` off loopback requires a token and checks it.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUi } from '../../scripts/build-ui.ts';
import { openCatalog, type Catalog } from '../../src/catalog/catalog.ts';
import { PRODUCT_ONLY } from '../../src/cli/composition.ts';
import { runCli } from '../../src/cli/program.ts';
import { runBackup } from '../../src/orchestrator/backup.ts';
import { loadPlan } from '../../src/plan/load-plan.ts';
import type { GroupRpo } from '../../src/catalog/catalog-view.ts';
import { startServe, type RunningServe } from '../../src/serve/server.ts';
import { failCapture } from '../support/failpoints.ts';
import { startAdminNode, tempDir, writePlan, type AdminNode } from '../orchestrator/helpers.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text exposition format, strictly: HELP and TYPE before a family's samples, one sample per line. */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta[3]);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    expect(types.has(m[1]!) || types.has(family), `TYPE before ${m[1]!}`).toBe(true);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { types, samples };
}

const value = (samples: Sample[], name: string, labels: Record<string, string>): number | undefined =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('Prometheus metrics over a real catalog', () => {
  let tmp: ReturnType<typeof tempDir>;
  let node: AdminNode;
  let catalog: Catalog;
  let planFile: string;
  let serve: RunningServe;
  let uiDir: string;

  beforeAll(async () => {
    tmp = tempDir('sp-metrics-');
    node = await startAdminNode();
    planFile = writePlan(tmp.dir, [node.port]);
    const plan = loadPlan(planFile);
    catalog = openCatalog(plan.catalogPath);
    for (const fail of [false, true, false]) {
      const r = await runBackup({ plan, catalog, ...(fail ? { failpoints: failCapture('b') } : {}) });
      expect(r.state).toBe(fail ? 'failed' : 'complete');
    }
    uiDir = join(tmp.dir, 'ui');
    await buildUi(uiDir);
    serve = await startServe({ catalog, port: 0, uiDir });
  }, 300_000);

  afterAll(async () => {
    await serve?.close();
    catalog?.close();
    await node?.server.close();
    tmp?.cleanup();
  });

  it('/metrics parses, follows the naming conventions and equals the API', async () => {
    const res = await fetch(new URL('/metrics', serve.url));
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const { types, samples } = parseExposition(await res.text());
    for (const [name, type] of types) {
      expect(name).toMatch(/^stillpoint_[a-z0-9_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (type === 'histogram') expect(name).toMatch(/_seconds$/);
      expect(name).not.toMatch(/_(ms|milliseconds|kb|mb)(_|$)/);
    }
    expect(types.get('stillpoint_last_success_timestamp_seconds')).toBe('gauge');
    expect(types.get('stillpoint_backup_duration_seconds')).toBe('histogram');
    expect(types.get('stillpoint_pause_window_seconds')).toBe('histogram');
    expect(types.get('stillpoint_pause_drain_seconds')).toBe('histogram');

    const overview = (await (await fetch(new URL('/api/overview', serve.url))).json()) as { rpo: GroupRpo[] };
    const rpo = overview.rpo.find((r) => r.group === 'test')!;
    expect(value(samples, 'stillpoint_last_success_timestamp_seconds', { group: 'test' })).toBe(
      rpo.pointMs! / 1000,
    );
    expect(
      value(samples, 'stillpoint_backup_failures_total', { group: 'test', code: 'CAPTURE_FAILED' }),
    ).toBe(1);
    expect(value(samples, 'stillpoint_backups', { group: 'test', state: 'complete' })).toBe(2);
    expect(value(samples, 'stillpoint_backup_consecutive_failures', { group: 'test' })).toBe(0);
    expect(value(samples, 'stillpoint_pause_window_seconds_count', { group: 'test' })).toBe(2);
    expect(value(samples, 'stillpoint_backup_bytes_total', { group: 'test' })).toBeGreaterThan(0);
  });

  it('backup --metrics-file writes the same families, atomically, mode 0600', async () => {
    const file = join(tmp.dir, 'stillpoint.prom');
    const code = await runCli(
      ['node', 'stillpoint', 'backup', '--plan', planFile, '--metrics-file', file, '--json'],
      PRODUCT_ONLY,
    );
    process.exitCode = undefined;
    expect(code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const { samples } = parseExposition(readFileSync(file, 'utf8'));
    expect(value(samples, 'stillpoint_backups', { group: 'test', state: 'complete' })).toBe(3);
    expect(value(samples, 'stillpoint_rpo_seconds', { group: 'test' })).toBeGreaterThanOrEqual(0);
  }, 120_000);

  it('a `backups verify` result is logged and counted', async () => {
    const id = catalog.list({ state: 'complete' })[0]!.id;
    const code = await runCli(
      ['node', 'stillpoint', 'backups', 'verify', id, '--plan', planFile, '--json'],
      PRODUCT_ONLY,
    );
    process.exitCode = undefined;
    expect(code).toBe(0);
    const { samples } = parseExposition(await (await fetch(new URL('/metrics', serve.url))).text());
    expect(
      value(samples, 'stillpoint_verify_results_total', { group: 'test', check: 'verify', result: 'ok' }),
    ).toBe(1);
  }, 120_000);

  it('off loopback a token is required, and checked on the API but not on the page', async () => {
    await expect(startServe({ catalog, host: '0.0.0.0', port: 0, uiDir })).rejects.toMatchObject({
      code: 'SERVE_TOKEN_REQUIRED',
    });
    const guarded = await startServe({ catalog, host: '127.0.0.1', port: 0, uiDir, token: 's3cret' });
    try {
      expect((await fetch(new URL('/api/overview', guarded.url))).status).toBe(401);
      expect((await fetch(new URL('/metrics', guarded.url))).status).toBe(401);
      const wrong = { headers: { Authorization: 'Bearer nope' } };
      expect((await fetch(new URL('/api/overview', guarded.url), wrong)).status).toBe(401);
      const right = { headers: { Authorization: 'Bearer s3cret' } };
      expect((await fetch(new URL('/api/overview', guarded.url), right)).status).toBe(200);
      expect((await fetch(guarded.url)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
