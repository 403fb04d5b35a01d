/**
 * A CI-sized trial run: a few SQLite trials with a fixed seed, covering an orchestrator SIGKILL, a node
 * SIGKILL, a node joining during the window (found through SRV), an admin endpoint answering Pause with an
 * error and a clock offset, plus the negative control. Real node processes, a real `stillpoint backup`
 * process, real restores and the real checker.
 */
import { describe, expect, it } from 'vitest';
import { passed, summarize } from '../../src/lab/trials/report.ts';
import { runCleanTrials } from './support.ts';

describe('trials (CI size)', () => {
  it('survives orchestrator and node kills with zero violations, and the negative control finds tearing', async () => {
    const { report, byFault } = await runCleanTrials({
      trials: 6,
      seed: 20_261_122,
      groups: ['sqlite'],
      faults: ['orchestrator-kill', 'node-kill', 'admin-error', 'none', 'node-join', 'clock-offset'],
      negativeControl: true,
      sizes: { nodes: 2 },
    });
    const summary = summarize(report);
    expect(summary.faultsByKind['orchestrator-kill']).toBeGreaterThanOrEqual(1);
    expect(summary.faultsByKind['node-kill']).toBeGreaterThanOrEqual(1);
    // A joiner's load used to wait for the trial's main load, which only stops after the heal: a hang.
    const join = byFault('node-join');
    expect(join?.faultApplied).toBe(true);
    expect(join?.discovery).toBe('srv');
    // An admin endpoint that answers Pause with an error must fail the backup, never complete it.
    expect(byFault('admin-error')?.outcome).toBe('failed');
    // The control trial (no fault) must complete, and its backup must have been restored and checked.
    const control = byFault('none');
    expect(control?.outcome).toBe('complete');
    expect(control?.restoreChecked).toBe(true);
    expect(report.negativeControl?.ran, report.negativeControl?.detail).toBe(true);
    expect(report.negativeControl?.tornCopies).toBeGreaterThan(0);
    expect(passed(report)).toBe(true);
  }, 900_000);

  it('hold-mode nodes (ScalarDL behaviour): clients are held through the window, not rejected, and nothing is lost', async () => {
    // One trial keeps CI short; campaigns draw every fault with --while-paused both.
    const { report, byFault } = await runCleanTrials({
      trials: 1,
      seed: 20_261_202,
      groups: ['sqlite'],
      faults: ['none'],
      whilePaused: 'hold',
      sizes: { nodes: 2 },
    });
    expect(report.trials.map((t) => t.whilePaused)).toEqual(['hold']);
    // A complete backup under hold mode: its clients were held through the window (a stall, no failure).
    const control = byFault('none');
    expect(control?.outcome).toBe('complete');
    expect(control?.clientStallMs?.max).toBeGreaterThan(0);
  }, 900_000);
});
