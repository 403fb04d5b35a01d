/**
 * The trial groups added with the time-handle engines, at CI size: one short trial per group whose shared
 * servers start fast — `dynamodb+postgres` (dynalite + the DynamoDB PITR fake + PostgreSQL) with its
 * service clock skewed, and `cosmos+sqlite` (the ARM fake over cosmosdb-server, reached through the
 * product's DefaultAzureCredential and the fake Azure CLI) with no fault. `managed` (rds + azure-flexible)
 * is left to campaigns: its start-up archives two servers and each restore replays WAL/binlog (~70 s a trial).
 * And a kept `cosmos+sqlite` group serving a second trial (a second restore of the same Cosmos account).
 */
import { describe, expect, it } from 'vitest';
import { runCleanTrials } from './support.ts';

describe('trials over the time-handle groups (CI size)', () => {
  it('dynamodb+postgres with a skewed service clock and cosmos+sqlite: consistent or invalid, never torn', async () => {
    const { report, detail } = await runCleanTrials({
      trials: 2,
      seed: 20_261_203,
      groups: ['dynamodb+postgres', 'cosmos+sqlite'],
      faults: ['service-clock-skew', 'none'],
      sizes: { nodes: 2 },
    });
    expect(new Set(report.trials.map((t) => t.group)).size, detail).toBe(2);
    for (const t of report.trials) {
      expect(t.mode, 'time-handle groups back up in pause-window mode').toBe('pause-window');
      expect(['complete', 'invalid'], detail).toContain(t.outcome);
      if (t.outcome === 'complete') expect(t.restoreChecked, detail).toBe(true);
    }
  }, 600_000);

  it('a kept cosmos+sqlite group serves a second trial: its second restore of the same account is whole', async () => {
    // The first reuse of a kept cosmos+sqlite group restored the previous trial's query answers as
    // documents (the management fake logged queries as writes): 22 accounts, a transfer with a null id.
    const { report, detail } = await runCleanTrials({
      trials: 2,
      seed: 3,
      groups: ['cosmos+sqlite'],
      faults: ['none'],
      sizes: { nodes: 2 },
    });
    expect(report.trials[1]?.phasesMs?.seed, 'the second trial took the kept, seeded group').toBeUndefined();
    for (const t of report.trials) expect(t.restoreChecked, detail).toBe(true);
  }, 300_000);
});
