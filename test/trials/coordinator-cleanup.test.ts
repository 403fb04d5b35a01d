/**
 * The `coordinator-cleanup` fault (issue 18): every node runs Coordinator cleanup from its start through every
 * moment of the backup, behind its gate. Two SQLite trials with a fixed seed (26 draws a reject-mode, then a
 * hold-mode gate): each backup completes, restores and passes the checker, and cleanup really deleted rows. Children
 * run from dist: `npm run build` first.
 */
import { describe, expect, it } from 'vitest';
import { runCleanTrials } from './support.ts';

describe('trials: coordinator cleanup during the backup', () => {
  it('two sqlite trials: complete, restored consistent, rows cleaned up; 0 violations', async () => {
    const { report, detail } = await runCleanTrials({
      trials: 2,
      seed: 26,
      groups: ['sqlite'],
      faults: ['coordinator-cleanup'],
      whilePaused: 'both',
      sizes: { nodes: 2 },
    });
    for (const trial of report.trials) {
      expect(trial.outcome, detail).toBe('complete');
      expect(trial.restoreChecked, detail).toBe(true);
      const [, deleted] = /cleanup deleted (\d+) Coordinator rows/.exec(trial.faultDetail ?? '') ?? [];
      expect(Number(deleted), detail).toBeGreaterThan(0);
    }
  }, 600_000);
});
