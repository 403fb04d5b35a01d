/**
 * Resumable campaigns (src/lab/trials/journal.ts): a campaign interrupted after some trials and continued
 * with the same journal runs the same schedule as an uninterrupted one — same (group, fault, moment, mode)
 * and the same draws inside each trial — and its report holds every trial. The trial itself is replaced by
 * a stub that records what it was given, so the schedule is checked without servers or processes.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeJournals } from '../../src/lab/trials/campaigns.ts';
import { passed, renderMarkdown, type TrialResult } from '../../src/lab/trials/report.ts';
import { runTrials } from '../../src/lab/trials/runner.ts';
import type { TrialSpec } from '../../src/lab/trials/trial.ts';
import { stubResult } from './support.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function journalFile(name = 'campaign'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trials-journal-'));
  dirs.push(dir);
  return join(dir, `${name}.ndjson`);
}

/** A trial that only records its scenario and three draws of its own random source. */
function stubTrial(spec: TrialSpec): Promise<TrialResult> {
  const draws = [spec.random.next(), spec.random.next(), spec.random.next()].join(',');
  return Promise.resolve(stubResult(spec, { faultDetail: draws }));
}

const scenario = (t: TrialResult): string =>
  [t.index, t.trialSeed, t.group, t.mode, t.fault, t.moment, t.faultDetail].join(' ');

const campaign = { seed: 4242, groups: ['sqlite'] as const, negativeControl: false };

describe('trials journal', () => {
  it('an interrupted campaign continued from its journal runs the schedule of an uninterrupted one', async () => {
    const whole = await runTrials({ ...campaign, trials: 12, runTrial: stubTrial });

    const file = await journalFile();
    const stop = new AbortController();
    const first = await runTrials({
      ...campaign,
      trials: 12,
      journal: file,
      signal: stop.signal,
      // Trial 5 is stopped mid-way (Ctrl-C reaches it as a harness error, or in the restore check as a
      // violation): not journaled, run again below.
      runTrial: async (spec) => {
        if (spec.index === 5) {
          stop.abort();
          return { ...(await stubTrial(spec)), harnessError: 'This operation was aborted' };
        }
        return stubTrial(spec);
      },
    });
    expect(first.trials.map((t) => t.index)).toEqual([0, 1, 2, 3, 4]);
    const stopAgain = new AbortController();
    const second = await runTrials({
      ...campaign,
      trials: 12,
      journal: file,
      signal: stopAgain.signal,
      runTrial: async (spec) => {
        stopAgain.abort();
        return {
          ...(await stubTrial(spec)),
          violations: ['restored: restore failed (This operation was aborted)'],
        };
      },
    });
    expect(second.trials.map((t) => t.index)).toEqual([0, 1, 2, 3, 4]);
    // Continued without --seed: the journal's seed is taken.
    const ran: number[] = [];
    const rest = await runTrials({
      ...campaign,
      seed: undefined,
      trials: 12,
      journal: file,
      runTrial: (spec) => {
        ran.push(spec.index);
        return stubTrial(spec);
      },
    });
    expect(ran).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect(rest.seed).toBe(campaign.seed);
    expect(rest.trials.map(scenario)).toEqual(whole.trials.map(scenario));
    // One campaign line, then one line per trial.
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(13);
  });

  it('drops a torn last line (the trial reruns) and refuses a journal of another campaign', async () => {
    const file = await journalFile();
    await runTrials({ ...campaign, trials: 2, journal: file, runTrial: stubTrial });
    appendFileSync(file, '{"type":"trial","index":2,"gro');
    const ran: number[] = [];
    const report = await runTrials({
      ...campaign,
      trials: 3,
      journal: file,
      runTrial: (spec) => {
        ran.push(spec.index);
        return stubTrial(spec);
      },
    });
    expect(ran).toEqual([2]);
    expect(report.trials).toHaveLength(3);
    await expect(
      runTrials({ ...campaign, seed: 1, trials: 3, journal: file, runTrial: stubTrial }),
    ).rejects.toThrow(/TRIALS_JOURNAL_MISMATCH|started with --seed 4242/);
    await expect(
      runTrials({ ...campaign, faults: ['none'], trials: 3, journal: file, runTrial: stubTrial }),
    ).rejects.toThrow(/--faults/);
  });

  it('merges the journals of campaigns run side by side into one report, judged as one', async () => {
    const a = await journalFile('sql');
    const b = await journalFile('aws');
    await runTrials({ ...campaign, seed: 1, trials: 3, journal: a, runTrial: stubTrial });
    await runTrials({ ...campaign, seed: 2, trials: 2, journal: b, runTrial: stubTrial });
    const control = { group: 'sqlite', ran: true, attempts: 1, tornCopies: 1, detail: 'torn' };
    appendFileSync(a, `${JSON.stringify({ type: 'control', ...control })}\n`);
    appendFileSync(b, '{"type":"trial","index":2,"gro'); // a campaign killed mid-append: left as it is

    const merged = mergeJournals([a, b]);
    expect(merged.trials.map((t) => `${t.campaign} ${t.index}`)).toEqual([
      'sql 0',
      'sql 1',
      'sql 2',
      'aws 0',
      'aws 1',
    ]);
    expect(merged.campaigns?.map((c) => [c.label, c.seed, c.trials])).toEqual([
      ['sql', 1, 3],
      ['aws', 2, 2],
    ]);
    expect(merged.negativeControls).toEqual([{ ...control, campaign: 'sql' }]);
    expect(passed(merged)).toBe(true);
    expect(readFileSync(b, 'utf8')).toMatch(/"gro$/); // reading repairs nothing
    const markdown = renderMarkdown(merged, 'x');
    expect(markdown).toContain('| trials | 5 |');
    expect(markdown).toContain('--seed 2 --groups sqlite --journal aws.ndjson');
    expect(markdown).toMatch(/\n\| aws 1 \| sqlite \|/);
    expect(markdown).toContain('| negative control (no pause) (sql) | 1 torn of 1 copies');

    // A violation in either campaign fails the whole report; so does a control that caught nothing.
    const { campaign: _label, ...last } = merged.trials[4]!;
    const broken = { ...last, index: 2, violations: ['lost 1 transfer'] };
    writeFileSync(b, readFileSync(b, 'utf8').replace(/\{"type":"trial","index":2,"gro$/, ''));
    appendFileSync(b, `${JSON.stringify({ type: 'trial', ...broken })}\n`);
    const failing = mergeJournals([a, b]);
    expect(failing.trials).toHaveLength(6);
    expect(passed(failing)).toBe(false);
    expect(renderMarkdown(failing, 'x')).toContain('**lost 1 transfer**');
    appendFileSync(
      a,
      `${JSON.stringify({ type: 'control', ...control, group: 'cassandra', tornCopies: 0 })}\n`,
    );
    expect(passed(mergeJournals([a]))).toBe(false);

    expect(() => mergeJournals([a, a])).toThrow(/both labelled "sql"/);
    const missing = (() => {
      try {
        mergeJournals([join(dirs[0]!, 'missing.ndjson')]);
      } catch (error) {
        return error as { code?: string; message: string };
      }
    })();
    expect(missing).toMatchObject({ code: 'TRIALS_JOURNAL_MISSING', message: /does not exist/ });
    expect(() => mergeJournals([])).toThrow(/No journal/);
  });
});
