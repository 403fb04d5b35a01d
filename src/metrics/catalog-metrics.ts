/**
 * Prometheus metrics (prom-client), computed from the catalog on each scrape: the catalog is the truth and
 * survives every process, so `serve`'s /metrics and a CronJob's `--metrics-file` (textfile collector) give
 * the same figures. Names and units follow the Prometheus conventions: `stillpoint_` prefix, base units
 * (seconds, bytes), `_total` for counters, `_timestamp_seconds` for Unix times. Histograms are rebuilt from the
 * whole history on each scrape (the catalog keeps it), so they are cumulative as Prometheus expects.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ConfigError } from '../errors.ts';
import type { CatalogSnapshot } from '../catalog/catalog-view.ts';

/** Buckets in seconds: a pause window is milliseconds to seconds; a backup seconds to hours. */
const WINDOW_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const DURATION_BUCKETS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600];

/** The reason's stable code (`PAUSE_FAILED: …` → PAUSE_FAILED). */
export function reasonCode(reason: string | null): string {
  const code = /^([A-Z][A-Z0-9_]+)\b/.exec(reason ?? '')?.[1];
  return code ?? 'UNKNOWN';
}

export function buildRegistry(view: CatalogSnapshot): Registry {
  const registry = new Registry();
  const reg = [registry];
  const lastSuccess = new Gauge({
    name: 'stillpoint_last_success_timestamp_seconds',
    help: 'Restore point (window mid-time) of the newest complete and verified backup, per group.',
    labelNames: ['group'],
    registers: reg,
  });
  const rpo = new Gauge({
    name: 'stillpoint_rpo_seconds',
    help: 'Seconds since the newest complete and verified backup of the group (absent: none yet).',
    labelNames: ['group'],
    registers: reg,
  });
  const backups = new Gauge({
    name: 'stillpoint_backups',
    help: 'Backups in the catalog by group and state.',
    labelNames: ['group', 'state'],
    registers: reg,
  });
  const duration = new Histogram({
    name: 'stillpoint_backup_duration_seconds',
    help: 'Time from creation to the final state of each finished backup.',
    labelNames: ['group', 'state'],
    buckets: DURATION_BUCKETS,
    registers: reg,
  });
  const window = new Histogram({
    name: 'stillpoint_pause_window_seconds',
    help: 'Length of each pause window (paused to unpause started): what production was held.',
    labelNames: ['group'],
    buckets: WINDOW_BUCKETS,
    registers: reg,
  });
  const drain = new Histogram({
    name: 'stillpoint_pause_drain_seconds',
    help: 'Time the pause waited for in-flight transactions to drain.',
    labelNames: ['group'],
    buckets: WINDOW_BUCKETS,
    registers: reg,
  });
  const bytes = new Counter({
    name: 'stillpoint_backup_bytes_total',
    help: 'Bytes captured by complete backups still in the catalog.',
    labelNames: ['group'],
    registers: reg,
  });
  const lastBytes = new Gauge({
    name: 'stillpoint_last_backup_size_bytes',
    help: 'Bytes of the newest complete backup, per group.',
    labelNames: ['group'],
    registers: reg,
  });
  const failures = new Counter({
    name: 'stillpoint_backup_failures_total',
    help: 'Failed or invalid backups by the stable error code of their reason.',
    labelNames: ['group', 'code'],
    registers: reg,
  });
  const consecutive = new Gauge({
    name: 'stillpoint_backup_consecutive_failures',
    help: 'Finished backups of the group that failed or were invalid since its last complete one.',
    labelNames: ['group'],
    registers: reg,
  });
  const verify = new Counter({
    name: 'stillpoint_verify_results_total',
    help: 'Results of `backups verify` (check=verify) and restore drills (check=restore) by outcome.',
    labelNames: ['group', 'check', 'result'],
    registers: reg,
  });
  const held = new Gauge({
    name: 'stillpoint_pause_held_seconds',
    help: 'How long a backup in progress has held its targets paused.',
    labelNames: ['group', 'backup_id'],
    registers: reg,
  });
  const lease = new Gauge({
    name: 'stillpoint_pause_lease_seconds',
    help: 'The pause lease of a backup in progress: the targets unpause by themselves after it.',
    labelNames: ['group', 'backup_id'],
    registers: reg,
  });
  const windowStart = new Gauge({
    name: 'stillpoint_pitr_window_start_timestamp_seconds',
    help: 'Oldest consistent restore point of the group.',
    labelNames: ['group'],
    registers: reg,
  });
  const windowEnd = new Gauge({
    name: 'stillpoint_pitr_window_end_timestamp_seconds',
    help: 'Newest consistent restore point of the group.',
    labelNames: ['group'],
    registers: reg,
  });

  for (const group of view.groups) {
    for (const state of ['complete', 'invalid', 'failed']) backups.set({ group, state }, 0);
    failures.inc({ group, code: 'NONE' }, 0);
    const rows = view.timeline.filter((r) => r.group === group);
    let streak = 0;
    for (const r of rows) {
      if (r.state === 'complete') streak = 0;
      else if (r.state === 'failed' || r.state === 'invalid') streak++;
    }
    consecutive.set({ group }, streak);
    const newestComplete = rows.filter((r) => r.state === 'complete').at(-1);
    if (newestComplete !== undefined) lastBytes.set({ group }, newestComplete.bytes);
  }
  for (const r of view.timeline) {
    backups.inc({ group: r.group, state: r.state });
    if (r.durationMs !== null) duration.observe({ group: r.group, state: r.state }, r.durationMs / 1000);
    if (r.windowMs !== null) window.observe({ group: r.group }, r.windowMs / 1000);
    if (r.drainMs !== null) drain.observe({ group: r.group }, r.drainMs / 1000);
    if (r.state === 'complete') bytes.inc({ group: r.group }, r.bytes);
    if (r.state === 'failed' || r.state === 'invalid')
      failures.inc({ group: r.group, code: reasonCode(r.reason) });
  }
  for (const g of view.rpo) {
    if (g.pointMs === null || g.rpoSeconds === null) continue;
    lastSuccess.set({ group: g.group }, g.pointMs / 1000);
    rpo.set({ group: g.group }, g.rpoSeconds);
  }
  for (const c of view.checks) {
    verify.inc({
      group: c.group,
      check: c.type === 'verified' ? 'verify' : 'restore',
      result: c.ok ? 'ok' : 'failed',
    });
  }
  for (const h of view.pauseHealth.heldNow) {
    held.set({ group: h.group, backup_id: h.backupId }, h.heldMs / 1000);
    lease.set({ group: h.group, backup_id: h.backupId }, h.leaseMs / 1000);
  }
  for (const w of view.pitr) {
    if (w.fromMs === null || w.toMs === null) continue;
    windowStart.set({ group: w.group }, w.fromMs / 1000);
    windowEnd.set({ group: w.group }, w.toMs / 1000);
  }
  return registry;
}

/**
 * Writes the metrics in the text format for node_exporter's textfile collector: to a temp file in the same
 * directory, then renamed, so the collector never reads half a file. Mode 0600 (the collector runs as the
 * same user in the CronJob's pod; widen the directory's group if yours does not).
 */
export async function writeMetricsFile(path: string, registry: Registry): Promise<void> {
  const text = await registry.metrics();
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, text, { mode: 0o600 });
    renameSync(temp, path);
  } catch (cause) {
    throw new ConfigError('METRICS_FILE_UNWRITABLE', `Cannot write the metrics file ${path}.`, {
      context: { path },
      hint: 'Give --metrics-file a path in a writable directory (the textfile collector directory).',
      cause,
    });
  }
}
