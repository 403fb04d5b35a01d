/**
 * Results of a trial run and their rendering: one row per trial, a summary (faults by kind, backups by
 * outcome, restores checked, violations, the longest time any node stayed paused), the negative control's
 * verdict, and the Markdown written to TRIALS.md.
 */
import type { BackupOutcome, FaultKind, FaultMoment, GroupKind } from './faults.ts';

/** What one trial did and found. */
export interface TrialResult {
  readonly index: number;
  /** Seed of this trial's own random source (replay: same run seed, same index). */
  readonly trialSeed: number;
  readonly group: GroupKind;
  /** Backup mode asked for in the plan. */
  readonly mode: string;
  /** How the plan found the nodes: a fixed address list, or DNS SRV. */
  readonly discovery: 'addresses' | 'srv';
  readonly fault: FaultKind;
  readonly moment: FaultMoment;
  /** Whether the fault was actually applied (the moment may never come, e.g. the backup failed first). */
  readonly faultApplied: boolean;
  /** What the fault did (e.g. "node n2 SIGKILLed"), once applied. */
  readonly faultDetail: string | null;
  readonly backupId: string | null;
  readonly outcome: BackupOutcome;
  /** Pause attempts the backup made (a window found invalid is retried up to the plan's maxAttempts). */
  readonly attempts: number;
  /** The catalog's reason for invalid / failed. */
  readonly reason: string | null;
  /** A complete backup was restored and the checker ran on it. */
  readonly restoreChecked: boolean;
  /** Transfers the workload saw acknowledged during the trial (all must be in the live databases). */
  readonly acknowledged: number;
  /** Longest continuous time any node was seen paused, ms (polling, so a lower bound). */
  readonly longestPausedMs: number;
  /** The nodes' gate while paused (absent in reports written before it was recorded: reject). */
  readonly whilePaused?: 'reject' | 'hold';
  /** The pause as the clients felt it: p99 and max of the per-transfer stall (blocked or retrying), ms. */
  readonly clientStallMs?: { readonly p99: number; readonly max: number };
  /** Broken invariants: each a sentence naming what failed. Zero is the bar. */
  readonly violations: readonly string[];
  /** The harness itself failed (not a product violation, but the trial proves nothing). */
  readonly harnessError: string | null;
  readonly durationMs: number;
  /** Where the trial's time went, ms per phase (./phases.ts; absent in older reports). */
  readonly phasesMs?: Readonly<Record<string, number>>;
  /** The campaign (journal label) it came from, in a report merged from several (./campaigns.ts). */
  readonly campaign?: string;
}

/** One of the campaigns a merged report was built from (./campaigns.ts). */
export interface CampaignSource {
  /** The journal's file name without `.ndjson`. */
  readonly label: string;
  readonly seed: number;
  readonly groups: readonly GroupKind[];
  readonly faults: readonly FaultKind[] | null;
  readonly whilePaused: string;
  readonly startedAt: string;
  readonly trials: number;
}

/** The negative control: captures without a pause, under load; the checker must find torn copies. */
export interface NegativeControlResult {
  /** The group copied (absent in reports written before there was one control per group). */
  readonly group?: GroupKind;
  /** The campaign whose journal holds it (a merged report: `stillpoint trials report`). */
  readonly campaign?: string;
  readonly ran: boolean;
  readonly attempts: number;
  /** Attempts whose copy the checker found inconsistent. */
  readonly tornCopies: number;
  readonly detail: string;
}

export interface TrialsReport {
  readonly seed: number;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly trials: readonly TrialResult[];
  /** The first group's negative control (kept for readers of older reports). */
  readonly negativeControl: NegativeControlResult | null;
  /** One negative control per group of the run, in the order of `--groups`. */
  readonly negativeControls?: readonly NegativeControlResult[];
  /** Set when the report merges several campaigns run side by side; `durationMs` is then their trial time. */
  readonly campaigns?: readonly CampaignSource[];
}

/** Every negative control of a report (older reports: the single one). */
function controls(report: TrialsReport): readonly NegativeControlResult[] {
  return report.negativeControls ?? (report.negativeControl === null ? [] : [report.negativeControl]);
}

export interface TrialsSummary {
  readonly trials: number;
  readonly faultsByKind: Readonly<Record<string, number>>;
  readonly outcomes: Readonly<Record<BackupOutcome, number>>;
  readonly restoresChecked: number;
  readonly violations: number;
  readonly harnessErrors: number;
  readonly longestPausedMs: number;
  /** False when the negative control ran and found nothing: the runner is then not testing anything. */
  readonly testing: boolean;
}

export function summarize(report: TrialsReport): TrialsSummary {
  const faultsByKind: Record<string, number> = {};
  const outcomes: Record<BackupOutcome, number> = { complete: 0, invalid: 0, failed: 0, none: 0 };
  for (const t of report.trials) {
    faultsByKind[t.fault] = (faultsByKind[t.fault] ?? 0) + 1;
    outcomes[t.outcome] += 1;
  }
  return {
    trials: report.trials.length,
    faultsByKind,
    outcomes,
    restoresChecked: report.trials.filter((t) => t.restoreChecked).length,
    violations: report.trials.reduce((n, t) => n + t.violations.length, 0),
    harnessErrors: report.trials.filter((t) => t.harnessError !== null).length,
    longestPausedMs: Math.max(0, ...report.trials.map((t) => t.longestPausedMs)),
    testing: controls(report).every((nc) => !nc.ran || nc.tornCopies > 0),
  };
}

/** Whether the run passed: zero violations, no harness errors, and a negative control that caught tearing. */
export function passed(report: TrialsReport): boolean {
  const s = summarize(report);
  return s.violations === 0 && s.harnessErrors === 0 && s.testing && controls(report).every((nc) => nc.ran);
}

/** The Markdown of TRIALS.md (also printed by the CLI). */
export function renderMarkdown(report: TrialsReport, command: string): string {
  const s = summarize(report);
  const ncs = controls(report);
  const ncRow = (nc: NegativeControlResult): string =>
    `| negative control (no pause)${ncs.length > 1 && nc.group ? `, ${nc.group}` : ''}${nc.campaign ? ` (${nc.campaign})` : ''} | ${nc.ran ? `${nc.tornCopies} torn of ${nc.attempts} copies — ${nc.tornCopies > 0 ? 'the checker catches tearing' : '**NOT TESTING: no torn copy found**'}` : `not run: ${escape(nc.detail)}`} |`;
  const lines = [
    '# Trials',
    '',
    `Generated by \`${command}\` on ${report.startedAt.slice(0, 10)} (${report.campaigns === undefined ? `seed ${report.seed}, ${(report.durationMs / 1000).toFixed(0)} s` : `${report.campaigns.length} campaigns, ${(report.durationMs / 1000).toFixed(0)} s of trial time`}). ` +
      'Each trial uses a group (kept for a few trials while it stays whole), runs the bank workload through several node processes, takes a backup and ' +
      'breaks one thing at a random moment; then checks that every node ended unpaused, every `complete` backup ' +
      'restores and passes the checker, and every acknowledged transfer is in the live databases. ' +
      'The same command replays the same scenarios (not the same interleaving).',
    '',
    '## Summary',
    '',
    '| measure | value |',
    '|---|---|',
    `| trials | ${s.trials} |`,
    `| faults by kind | ${
      Object.entries(s.faultsByKind)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || '—'
    } |`,
    `| backups complete / invalid / failed / no entry | ${s.outcomes.complete} / ${s.outcomes.invalid} / ${s.outcomes.failed} / ${s.outcomes.none} |`,
    `| restores checked | ${s.restoresChecked} |`,
    `| violations | ${s.violations} |`,
    `| harness errors | ${s.harnessErrors} |`,
    `| mean trial time | ${(s.trials === 0 ? 0 : report.trials.reduce((sum, t) => sum + t.durationMs, 0) / s.trials / 1000).toFixed(1)} s |`,
    `| longest time any node stayed paused | ${s.longestPausedMs} ms |`,
    ...(ncs.length === 0 ? ['| negative control (no pause) | not run |'] : ncs.map(ncRow)),
    '',
    ...campaignTable(report),
    ...perGroup(report),
    '## Trials',
    '',
    '| # | group | mode (targets) | fault | moment | applied | outcome | restore checked | acked | longest pause | client stall p99 / max | violations |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...report.trials.map(
      (t) =>
        `| ${t.campaign === undefined ? '' : `${t.campaign} `}${t.index} | ${t.group} | ${t.mode} (${t.discovery}${t.whilePaused === 'hold' ? ', hold' : ''}) | ${t.fault} | ${t.moment} | ${t.faultApplied ? (t.faultDetail === null ? 'yes' : escape(t.faultDetail)) : 'no'} | ${t.outcome}${t.attempts > 1 ? ` after ${t.attempts} attempts` : ''}${t.reason ? ` (${escape(t.reason)})` : ''} | ` +
        `${t.restoreChecked ? 'yes' : '—'} | ${t.acknowledged} | ${t.longestPausedMs} ms | ` +
        `${t.clientStallMs ? `${t.clientStallMs.p99} / ${t.clientStallMs.max} ms` : '—'} | ` +
        `${t.harnessError ? `harness: ${escape(t.harnessError)}` : t.violations.length === 0 ? '0' : `**${t.violations.map(escape).join('; ')}**`} |`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** The campaigns of a merged report, each with the command that continues (or replays) it. */
function campaignTable(report: TrialsReport): string[] {
  if (report.campaigns === undefined) return [];
  return [
    '## Campaigns',
    '',
    'Run side by side, each its own process with its own servers; a trial is named by its campaign and index.',
    '',
    '| campaign | started | trials | command (continues or replays it) |',
    '|---|---|---|---|',
    ...report.campaigns.map(
      (c) =>
        `| ${c.label} | ${c.startedAt.slice(0, 16).replace('T', ' ')} | ${c.trials} | \`stillpoint trials --trials ${c.trials} --seed ${c.seed} --groups ${c.groups.join(',')}${c.faults === null ? '' : ` --faults ${c.faults.join(',')}`}${c.whilePaused === 'reject' ? '' : ` --while-paused ${c.whilePaused}`} --journal ${c.label}.ndjson\` |`,
    ),
    '',
  ];
}

/** A table per group (trials, violations, harness errors, mean trial time) when the run has several. */
function perGroup(report: TrialsReport): string[] {
  const groups = [...new Set(report.trials.map((t) => t.group))];
  if (groups.length < 2) return [];
  return [
    '## Per group',
    '',
    '| group | trials | complete / invalid / failed / no entry | violations | harness errors | mean trial time |',
    '|---|---|---|---|---|---|',
    ...groups.map((g) => {
      const ts = report.trials.filter((t) => t.group === g);
      const n = (o: BackupOutcome): number => ts.filter((t) => t.outcome === o).length;
      const mean = ts.reduce((sum, t) => sum + t.durationMs, 0) / ts.length / 1000;
      return `| ${g} | ${ts.length} | ${n('complete')} / ${n('invalid')} / ${n('failed')} / ${n('none')} | ${ts.reduce((v, t) => v + t.violations.length, 0)} | ${ts.filter((t) => t.harnessError !== null).length} | ${mean.toFixed(1)} s |`;
    }),
    '',
  ];
}

function escape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 300);
}
