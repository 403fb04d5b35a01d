/**
 * The Helm chart's PrometheusRule and the Grafana dashboard use only metric names stillpoint exports: the
 * chart is rendered with Helm's template engine (../k8s/helm-render.ts) and every stillpoint_* name in the
 * rules and the dashboard's queries is checked against the registry built from a catalog view.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildRegistry } from '../../src/metrics/catalog-metrics.ts';
import type { CatalogSnapshot } from '../../src/catalog/catalog-view.ts';
import { renderChart } from '../k8s/helm-render.ts';

const CHART = 'deploy/helm/stillpoint';

const EMPTY: CatalogSnapshot = {
  nowMs: 0,
  groups: [],
  timeline: [],
  pitr: [],
  rpo: [],
  pauseHealth: {
    heldNow: [],
    rollbacks: [],
    unpauseFailures: [],
    invalidWindows: [],
    membershipChanges: [],
    leaseExpiries: [],
  },
  verification: {},
  checks: [],
  records: [],
};

async function exportedNames(): Promise<Set<string>> {
  const families = await buildRegistry(EMPTY).getMetricsAsJSON();
  const names = new Set<string>();
  for (const f of families) {
    names.add(f.name);
    if (String(f.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(f.name + s);
  }
  return names;
}

const referenced = (text: string): string[] => [...new Set(text.match(/stillpoint_[a-z0-9_]+/g) ?? [])];

describe('monitoring assets', () => {
  it('the PrometheusRule renders with its three alerts on exported metrics', async () => {
    const docs = renderChart(CHART, {
      release: 'sp',
      namespace: 'backups',
      values: { monitoring: { prometheusRule: { enabled: true, labels: { release: 'kps' } } } },
    }) as { kind: string; metadata: { labels: Record<string, string> }; spec: unknown }[];
    const rule = docs.find((d) => d.kind === 'PrometheusRule');
    expect(rule).toBeDefined();
    expect(rule!.metadata.labels.release).toBe('kps');
    const text = JSON.stringify(rule!.spec);
    for (const alert of [
      'StillpointRpoTooHigh',
      'StillpointBackupFailing',
      'StillpointPausedLongerThanLease',
    ])
      expect(text).toContain(alert);
    const names = await exportedNames();
    for (const name of referenced(text)) expect(names, name).toContain(name);
  }, 300_000);

  it('is off by default', () => {
    const docs = renderChart(CHART, { release: 'sp', namespace: 'backups', values: {} }) as {
      kind: string;
    }[];
    expect(docs.map((d) => d.kind)).not.toContain('PrometheusRule');
  }, 300_000);

  it("the Grafana dashboard's queries use exported metrics", async () => {
    const text = readFileSync(`${CHART}/dashboards/stillpoint.json`, 'utf8');
    const dashboard = JSON.parse(text) as { panels: unknown[] };
    expect(dashboard.panels.length).toBeGreaterThan(5);
    const names = await exportedNames();
    for (const name of referenced(text)) expect(names, name).toContain(name);
  });
});
