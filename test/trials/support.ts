/**
 * What every trial test does first: run the trials, then require zero harness errors and zero violations,
 * with a one-line account of each trial (group, fault, outcome, reason, what the fault did, violations) as
 * the message of any failed expectation. And the result a stub trial returns (tests of the runner's schedule).
 */
import { expect } from 'vitest';
import { summarize, type TrialResult, type TrialsReport } from '../../src/lab/trials/report.ts';
import { runTrials, type RunTrialsOptions } from '../../src/lab/trials/runner.ts';
import type { TrialSpec } from '../../src/lab/trials/trial.ts';

/** The result of a trial that ran nothing: the spec's scenario, a complete backup, no finding. */
export function stubResult(spec: TrialSpec, fields: Partial<TrialResult> = {}): TrialResult {
  return {
    index: spec.index,
    trialSeed: spec.random.seed,
    group: spec.group,
    mode: spec.mode,
    discovery: 'addresses',
    fault: spec.fault,
    moment: spec.moment,
    faultApplied: true,
    faultDetail: null,
    backupId: null,
    outcome: 'complete',
    attempts: 1,
    reason: null,
    restoreChecked: false,
    acknowledged: 0,
    longestPausedMs: 0,
    violations: [],
    harnessError: null,
    durationMs: 1,
    ...fields,
  };
}

export interface CleanTrials {
  readonly report: TrialsReport;
  /** Each trial in one line: the message of every expectation on the report. */
  readonly detail: string;
  /** The (first) trial of a fault kind. */
  readonly byFault: (kind: string) => TrialResult | undefined;
}

/** Runs the trials (no negative control unless asked) and expects 0 harness errors and 0 violations. */
export async function runCleanTrials(options: RunTrialsOptions): Promise<CleanTrials> {
  const report = await runTrials({ negativeControl: false, ...options });
  const detail = JSON.stringify(
    report.trials.map((t) => ({
      group: t.group,
      fault: t.fault,
      moment: t.moment,
      gate: t.whilePaused,
      outcome: t.outcome,
      attempts: t.attempts,
      reason: t.reason,
      note: t.faultDetail,
      v: t.violations,
      h: t.harnessError,
    })),
  );
  const summary = summarize(report);
  expect(summary.harnessErrors, detail).toBe(0);
  expect(summary.violations, detail).toBe(0);
  return { report, detail, byFault: (kind) => report.trials.find((t) => t.fault === kind) };
}
