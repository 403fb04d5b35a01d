/**
 * The fault kinds issue 11 asks of the trials, one SQLite trial each with a fixed seed: an orchestrator
 * killed and recovered from another host (own UTS namespace and hostname, after its heartbeat went stale),
 * a restore into an occupied target (refused before anything is written), an unusable artifact store (the
 * backup fails, nothing left paused). Zero violations, and each ends the way its fault demands.
 */
import { describe, expect, it } from 'vitest';
import { runCleanTrials } from './support.ts';

describe('trials: issue 11 fault kinds', () => {
  it('other-host recovery, occupied restore target, unusable artifact store: 0 violations', async () => {
    const { detail, byFault } = await runCleanTrials({
      trials: 3,
      seed: 7,
      groups: ['sqlite'],
      faults: ['orchestrator-kill-other-host', 'restore-target-non-empty', 'artifacts-unusable'],
      sizes: { nodes: 2 },
    });
    expect(byFault('artifacts-unusable')?.outcome, detail).toBe('failed');
    expect(byFault('restore-target-non-empty')?.outcome, detail).toBe('complete');
    expect(byFault('restore-target-non-empty')?.restoreChecked, detail).toBe(true);
    const killed = byFault('orchestrator-kill-other-host');
    expect(killed?.faultApplied, detail).toBe(true);
    // Whatever the moment, the backup is classified: never left in doubt.
    expect(['complete', 'invalid', 'failed']).toContain(killed?.outcome);
  }, 600_000);
});
