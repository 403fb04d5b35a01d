/**
 * The fault kinds issue 11 asks of the trials, one SQLite trial each with a fixed seed: an orchestrator
 * killed and recovered from another host (own UTS namespace and hostname, after its heartbeat went stale),
 * a restore into an occupied target (refused before anything is written), an unusable artifact store (the
 * backup fails, nothing left paused). Zero violations, and each ends the way its fault demands.
 */
import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/lab/trials/report.ts';
import { runTrials } from '../../src/lab/trials/runner.ts';

describe('trials: issue 11 fault kinds', () => {
  it('other-host recovery, occupied restore target, unusable artifact store: 0 violations', async () => {
    const report = await runTrials({
      trials: 3,
      seed: 7,
      groups: ['sqlite'],
      faults: ['orchestrator-kill-other-host', 'restore-target-non-empty', 'artifacts-unusable'],
      negativeControl: false,
      sizes: { nodes: 2 },
    });
    const summary = summarize(report);
    const detail = JSON.stringify(
      report.trials.map((t) => ({
        fault: t.fault,
        outcome: t.outcome,
        note: t.faultDetail,
        v: t.violations,
        h: t.harnessError,
      })),
    );
    expect(summary.harnessErrors, detail).toBe(0);
    expect(summary.violations, detail).toBe(0);
    const byFault = (kind: string) => report.trials.find((t) => t.fault === kind);
    expect(byFault('artifacts-unusable')?.outcome, detail).toBe('failed');
    expect(byFault('restore-target-non-empty')?.outcome, detail).toBe('complete');
    expect(byFault('restore-target-non-empty')?.restoreChecked, detail).toBe(true);
    const killed = byFault('orchestrator-kill-other-host');
    expect(killed?.faultApplied, detail).toBe(true);
    // Whatever the moment, the backup is classified: never left in doubt.
    expect(['complete', 'invalid', 'failed']).toContain(killed?.outcome);
  }, 600_000);
});
