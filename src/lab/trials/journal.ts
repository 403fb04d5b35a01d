/**
 * The campaign journal (`stillpoint trials --journal FILE`): one JSON line per finished trial, appended as
 * soon as the trial ends, after a first line naming the campaign (seed, groups, faults, gate behaviour). A
 * campaign interrupted at trial N (Ctrl-C, a crash, a reboot) is continued by running the same command with
 * the same journal: it starts at trial N with the same seed, so trial N draws exactly what it would have
 * drawn in an uninterrupted run (trial i's choices come from the seed's fork i, ./random.ts). The report
 * (TRIALS.md) is built from every trial in the journal. The negative controls are journaled too, once.
 *
 * A trial that was running when the campaign stopped left no line: it runs again. A half-written last line
 * (the process died while appending) is dropped when the journal is opened.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../../errors.ts';
import type { FaultKind, GroupKind } from './faults.ts';
import type { NegativeControlResult, TrialResult } from './report.ts';

/** What must be the same for a journal to be continued: every input of the trials' draws. */
export interface CampaignIdentity {
  readonly seed: number;
  readonly groups: readonly GroupKind[];
  readonly faults: readonly FaultKind[] | null;
  readonly whilePaused: string;
}

interface CampaignLine extends CampaignIdentity {
  readonly type: 'campaign';
  readonly startedAt: string;
}

/** An open journal: what it holds (trials in index order, 0 … n-1) and how to add to it. */
export interface Journal extends JournalContents {
  appendTrial(result: TrialResult): void;
  appendControl(result: NegativeControlResult): void;
}

/**
 * Opens (or creates) the journal at `file` for a campaign. `seed` undefined takes the journal's seed (or
 * `freshSeed` for a new journal); any other input that differs from the journal's is refused
 * (TRIALS_JOURNAL_MISMATCH): continuing it would not be the same campaign.
 */
export function openJournal(
  file: string,
  wanted: Omit<CampaignIdentity, 'seed'> & { readonly seed: number | undefined },
  freshSeed: () => number,
): Journal {
  const lines = existsSync(file) ? parseLines(file, { repair: true }) : [];
  let read: JournalContents;
  if (lines.length === 0) {
    const identity = { ...wanted, seed: wanted.seed ?? freshSeed() };
    const line: CampaignLine = { type: 'campaign', startedAt: new Date().toISOString(), ...identity };
    writeFileSync(file, `${JSON.stringify(line)}\n`);
    read = { identity, startedAt: line.startedAt, trials: [], controls: [] };
  } else {
    read = contents(file, lines);
    const { identity } = read;
    const differs = (
      [
        ['--seed', wanted.seed === undefined ? identity.seed : wanted.seed, identity.seed],
        ['--groups', wanted.groups, identity.groups],
        ['--faults', wanted.faults, identity.faults],
        ['--while-paused', wanted.whilePaused, identity.whilePaused],
      ] as const
    ).find(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b));
    if (differs !== undefined)
      refuse(
        file,
        `it was started with ${differs[0]} ${JSON.stringify(differs[2])}, not ${JSON.stringify(differs[1])}`,
      );
  }
  const append = (type: string, value: object): void =>
    appendFileSync(file, `${JSON.stringify({ type, ...value })}\n`);
  return {
    ...read,
    appendTrial: (result) => append('trial', result),
    appendControl: (result) => append('control', result),
  };
}

/** What a journal holds, read without changing it (the report of several campaigns, ./campaigns.ts). */
export interface JournalContents {
  readonly identity: CampaignIdentity;
  readonly startedAt: string;
  readonly trials: readonly TrialResult[];
  readonly controls: readonly NegativeControlResult[];
}

/** Reads a journal (a torn last line is skipped, the file left as it is); refuses one that is not a journal. */
export function readJournal(file: string): JournalContents {
  const lines = existsSync(file) ? parseLines(file, { repair: false }) : [];
  if (lines.length === 0) {
    throw new ConfigError(
      'TRIALS_JOURNAL_MISSING',
      `The journal ${file} ${existsSync(file) ? 'is empty' : 'does not exist'}.`,
      { hint: 'Give the journal files campaigns wrote with `stillpoint trials --journal FILE`.' },
    );
  }
  return contents(file, lines);
}

function contents(file: string, lines: ReadonlyArray<Record<string, unknown>>): JournalContents {
  const head = lines[0] as unknown as CampaignLine;
  if (head.type !== 'campaign') refuse(file, 'its first line is not a campaign line');
  const trials = lines.filter((l) => l.type === 'trial').map((l) => stripType(l) as unknown as TrialResult);
  trials.forEach((t, i) => {
    if (t.index !== i) refuse(file, `its trial lines are not trials 0…${trials.length - 1} in order`);
  });
  const controls = lines
    .filter((l) => l.type === 'control')
    .map((l) => stripType(l) as unknown as NegativeControlResult);
  return {
    identity: { seed: head.seed, groups: head.groups, faults: head.faults, whilePaused: head.whilePaused },
    startedAt: head.startedAt,
    trials,
    controls,
  };
}

/** The journal's lines; a torn last line (no newline, or not JSON) is dropped (from the file too: `repair`). */
function parseLines(file: string, { repair }: { readonly repair: boolean }): Array<Record<string, unknown>> {
  const text = readFileSync(file, 'utf8');
  // Every line ends with a newline; what follows the last one is a torn line.
  const complete = text.split('\n').slice(0, -1);
  const parsed: Array<Record<string, unknown>> = [];
  for (const [i, line] of complete.entries()) {
    try {
      parsed.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      refuse(file, `line ${i + 1} is not JSON`);
    }
  }
  if (repair && !text.endsWith('\n') && text !== '')
    writeFileSync(file, complete.map((l) => `${l}\n`).join(''));
  return parsed;
}

function stripType(line: Record<string, unknown>): Record<string, unknown> {
  const { type: _type, ...rest } = line;
  return rest;
}

function refuse(file: string, why: string): never {
  throw new ConfigError('TRIALS_JOURNAL_MISMATCH', `The journal ${file} cannot be continued: ${why}.`, {
    hint: 'Run the same command (seed, groups, faults, --while-paused) again, or give a new --journal file.',
  });
}
