/**
 * One report from several campaigns run side by side (`stillpoint trials report A.ndjson B.ndjson …`).
 *
 * A campaign is one process with its own seed, groups and shared servers; two cores keep several busy at
 * once, because most of a trial waits (deadlines, leases, a blackholed path, a restore). Running N journals
 * side by side is N ordinary campaigns: each stays resumable on its own (./journal.ts), and each trial keeps
 * its campaign's label and index, so `stillpoint trials --seed S --groups G --journal FILE` replays it.
 * Nothing is re-run or re-judged here: the report is the union of the journals' trials and negative controls.
 */
import { basename } from 'node:path';
import { ConfigError } from '../../errors.ts';
import { readJournal } from './journal.ts';
import type { CampaignSource, TrialsReport } from './report.ts';

/** Merges the journals into one report; each trial carries its campaign's label (the file name). */
export function mergeJournals(files: readonly string[]): TrialsReport {
  if (files.length === 0)
    throw new ConfigError('TRIALS_FLAG_INVALID', 'No journal given to report on.', {
      hint: 'Pass one or more journal files: stillpoint trials report campaign-a.ndjson campaign-b.ndjson',
    });
  const journals = files.map((file) => ({ file, label: labelOf(file), ...readJournal(file) }));
  const labels = journals.map((j) => j.label);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice !== undefined)
    throw new ConfigError('TRIALS_FLAG_INVALID', `Two journals are both labelled "${twice}".`, {
      hint: 'A trial is named by its journal file name and index: give the journals different file names.',
    });
  const controls = journals.flatMap((j) => j.controls.map((c) => ({ ...c, campaign: j.label })));
  const campaigns: CampaignSource[] = journals.map((j) => ({
    label: j.label,
    seed: j.identity.seed,
    groups: j.identity.groups,
    faults: j.identity.faults,
    whilePaused: j.identity.whilePaused,
    startedAt: j.startedAt,
    trials: j.trials.length,
  }));
  const startedAt = journals.map((j) => j.startedAt).sort()[0]!;
  return {
    seed: journals[0]!.identity.seed,
    startedAt,
    durationMs: journals.reduce((sum, j) => sum + j.trials.reduce((s, t) => s + t.durationMs, 0), 0),
    trials: journals.flatMap((j) => j.trials.map((t) => ({ ...t, campaign: j.label }))),
    negativeControl: controls[0] ?? null,
    negativeControls: controls,
    campaigns,
  };
}

/** `trials/sql.ndjson` → `sql`. */
function labelOf(file: string): string {
  return basename(file).replace(/\.ndjson$/, '');
}
