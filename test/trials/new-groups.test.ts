/**
 * The trial groups added with the time-handle engines, at CI size: one short trial per group whose shared
 * servers start fast — `dynamodb+postgres` (dynalite + the DynamoDB PITR fake + PostgreSQL) with its
 * service clock skewed, and `cosmos+sqlite` (the ARM fake over cosmosdb-server, reached through the
 * product's DefaultAzureCredential and the fake Azure CLI) with no fault. `managed` (rds + azure-flexible)
 * is left to campaigns: its start-up archives two servers and each restore replays WAL/binlog (~70 s a trial).
 */
import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/lab/trials/report.ts';
import { runTrials } from '../../src/lab/trials/runner.ts';

describe('trials over the time-handle groups (CI size)', () => {
  it('dynamodb+postgres with a skewed service clock and cosmos+sqlite: consistent or invalid, never torn', async () => {
    const report = await runTrials({
      trials: 2,
      seed: 20_261_203,
      groups: ['dynamodb+postgres', 'cosmos+sqlite'],
      faults: ['service-clock-skew', 'none'],
      negativeControl: false,
      sizes: { nodes: 2 },
    });
    const detail = JSON.stringify(
      report.trials.map((t) => ({
        group: t.group,
        fault: t.fault,
        outcome: t.outcome,
        reason: t.reason,
        v: t.violations,
        h: t.harnessError,
      })),
    );
    const summary = summarize(report);
    expect(summary.harnessErrors, detail).toBe(0);
    expect(summary.violations, detail).toBe(0);
    expect(new Set(report.trials.map((t) => t.group)).size, detail).toBe(2);
    for (const t of report.trials) {
      expect(t.mode, 'time-handle groups back up in pause-window mode').toBe('pause-window');
      expect(['complete', 'invalid'], detail).toContain(t.outcome);
      if (t.outcome === 'complete') expect(t.restoreChecked, detail).toBe(true);
    }
  }, 600_000);
});
