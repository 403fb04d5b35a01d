/**
 * `stillpoint trials`: randomized backup/restore trials with fault injection (src/lab/trials/runner.ts).
 * Prints the summary and writes it to TRIALS.md (or --out); `--json` prints the whole report instead.
 * Exit 0 when there was no violation, no harness error, and the negative control caught tearing.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import { FAULT_KINDS, GROUP_KINDS, type GroupKind } from '../trials/faults.ts';
import { passed, renderMarkdown, summarize, type TrialResult } from '../trials/report.ts';
import { action, emit } from '../../cli/output.ts';

interface TrialsFlags {
  trials: string;
  seed?: string;
  groups: string;
  faults?: string;
  negativeControl: boolean;
  whilePaused: string;
  json?: boolean;
  out: string;
  journal?: string;
}

const GROUPS: readonly GroupKind[] = GROUP_KINDS;

export function register(program: Command): void {
  const trials = program
    .command('trials')
    .summary('take backups under injected faults, restore every good one, count violations')
    .description(
      'Prove backups under faults: each trial uses a group of real databases (SQLite files; PostgreSQL + MariaDB;\n' +
        'DynamoDB (dynalite + PITR fake) + PostgreSQL; rds PostgreSQL + azure-flexible MySQL behind their fakes;\n' +
        'Cosmos DB (cosmosdb-server + ARM fake) + SQLite; a 3-node Cassandra), started once per campaign,\n' +
        'runs the bank workload through several node processes, takes a backup in a random mode and breaks one\n' +
        'thing at a random moment (orchestrator or catalog writer SIGKILL, node kill/restart/join, database\n' +
        'stopped, slow or dropped network path, artifact store unreachable/slow/failing, admin endpoint failing\n' +
        'or silent, clocks skewed, restore killed, encryption key missing). Then: every node must end unpaused\n' +
        'within the lease, every complete backup must restore and pass the checker, and no acknowledged transfer\n' +
        'may be missing from the live databases. A negative control per group copies it without a pause and must\n' +
        'be caught as torn. Choices are seeded: rerun with --seed to replay the same scenarios, or --journal to\n' +
        'continue an interrupted campaign. Exit 0 only when nothing failed.',
    )
    .option('--trials <n>', 'number of trials', '10')
    .option('--seed <n>', 'seed of every random choice (default: a fresh one, printed)')
    .option('--groups <list>', `groups to draw from: ${GROUPS.join(', ')}`, 'sqlite')
    .option('--faults <list>', `faults to draw from (default all applicable): ${FAULT_KINDS.join(', ')}`)
    .option(
      '--no-negative-control',
      'skip the negative control (the run then cannot show that it tests anything)',
    )
    .option(
      '--while-paused <behaviour>',
      "the nodes' gate while paused: reject (ScalarDB Server; clients retry), hold (ScalarDL), or both (drawn per trial)",
      'reject',
    )
    .option(
      '--journal <file>',
      'append each trial as a JSON line to <file>; run again with the same file to continue an interrupted campaign (same seed, same draws)',
    )
    .option('--json', 'print the whole report as JSON')
    .option('--out <file>', 'where to write the Markdown summary', 'TRIALS.md')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  stillpoint trials --trials 20                          # SQLite groups, every fault, summary in TRIALS.md\n' +
        '  stillpoint trials --groups postgres+mariadb --faults database-stop,node-restart --seed 42\n' +
        '  stillpoint trials --trials 5 --out /tmp/trials.md --json > trials.json\n' +
        '  stillpoint trials --trials 1000 --seed 7 --journal trials.ndjson   # Ctrl-C, then the same command continues\n' +
        'Details: docs/trials.md.',
    )
    .action(action((flags: TrialsFlags) => trialsCommand(flags)));
  trials
    .command('report')
    .summary('one report (TRIALS.md) from the journals of campaigns run side by side')
    .description(
      'Merge the journals of several campaigns (each `stillpoint trials --journal FILE`, run side by side:\n' +
        'each its own process, seed, groups and servers) into one report. Nothing is re-run: the report is the\n' +
        "union of the journals' trials and negative controls; a trial is named by its journal's file name and\n" +
        'its index. Takes --out and --json of `trials` (the Markdown goes to TRIALS.md unless --out says\n' +
        'otherwise). Exit 0 only when no trial had a violation or a harness error and every negative control\n' +
        'ran and caught tearing.',
    )
    .argument('<journals...>', 'journal files (.ndjson)')
    .addHelpText(
      'after',
      '\nExample:\n' + '  stillpoint trials report trials/sql.ndjson trials/aws.ndjson --out TRIALS.md\n',
    )
    .action(
      // --out and --json belong to `trials` (commander hands them to the parent wherever they stand).
      action((journals: string[], _flags: object, command: Command) =>
        reportCommand(journals, command.optsWithGlobals<{ json?: boolean; out: string }>()),
      ),
    );
}

async function reportCommand(
  journals: readonly string[],
  flags: { json?: boolean; out: string },
): Promise<number> {
  const { mergeJournals } = await import('../trials/campaigns.ts');
  const report = mergeJournals(journals);
  const markdown = renderMarkdown(report, `stillpoint trials report ${journals.join(' ')}`);
  await writeFile(flags.out, markdown);
  const json = flags.json === true;
  emit(
    json,
    { ...report, summary: summarize(report), passed: passed(report) },
    () => `${markdown}\nwritten to ${flags.out}`,
  );
  return passed(report) ? 0 : 1;
}

async function trialsCommand(flags: TrialsFlags): Promise<number> {
  const trials = positiveInt(flags.trials, '--trials');
  const seed = flags.seed === undefined ? undefined : positiveInt(flags.seed, '--seed', 0);
  const groups = list(flags.groups, GROUPS, '--groups');
  const faults = flags.faults === undefined ? undefined : list(flags.faults, FAULT_KINDS, '--faults');
  const behaviours = list(flags.whilePaused, ['reject', 'hold', 'both'] as const, '--while-paused');
  if (behaviours.length !== 1)
    throw new ConfigError('TRIALS_FLAG_INVALID', '--while-paused takes one value.', {
      hint: 'Use both to draw reject or hold per trial.',
    });
  const whilePaused = behaviours[0];
  const json = flags.json === true;
  const controller = new AbortController();
  // `on`, not `once`: a Ctrl-C under npx/tsx arrives twice (the terminal's and tsx's relay), and a second
  // signal must not kill the runner before it stops the campaign's servers.
  const onSignal = (): void => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // Imported here so `--help` does not load the trial runner and its servers (issue 17).
    const { runTrials } = await import('../trials/runner.ts');
    const report = await runTrials({
      trials,
      ...(seed === undefined ? {} : { seed }),
      groups,
      ...(faults === undefined ? {} : { faults }),
      negativeControl: flags.negativeControl,
      ...(flags.journal === undefined ? {} : { journal: flags.journal }),
      ...(whilePaused === undefined ? {} : { whilePaused }),
      signal: controller.signal,
      onTrial: json ? undefined : (t) => process.stderr.write(`${progressLine(t)}\n`),
    });
    const command = `stillpoint trials --trials ${trials} --seed ${report.seed} --groups ${groups.join(',')}${faults ? ` --faults ${faults.join(',')}` : ''}${whilePaused && whilePaused !== 'reject' ? ` --while-paused ${whilePaused}` : ''}`;
    const markdown = renderMarkdown(report, command);
    await writeFile(flags.out, markdown);
    emit(
      json,
      { ...report, summary: summarize(report), passed: passed(report) },
      () => `${markdown}\nwritten to ${flags.out}`,
    );
    return passed(report) ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function progressLine(t: TrialResult): string {
  const verdict = t.harnessError
    ? `HARNESS ERROR ${t.harnessError}`
    : t.violations.length === 0
      ? 'ok'
      : `VIOLATIONS ${t.violations.join('; ')}`;
  return `trial ${t.index} (${t.group}, ${t.mode}, ${t.fault} ${t.moment}${t.faultDetail === null ? '' : `: ${t.faultDetail}`}): ${t.outcome}${t.attempts > 1 ? ` after ${t.attempts} attempts` : ''}${t.restoreChecked ? ', restore checked' : ''} — ${verdict} [${(t.durationMs / 1000).toFixed(1)} s]`;
}

function positiveInt(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new ConfigError('TRIALS_FLAG_INVALID', `${flag} must be an integer ≥ ${min}, got "${value}".`, {
      hint: `Pass ${flag} ${Math.max(min, 1)}.`,
    });
  }
  return n;
}

function list<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new ConfigError('TRIALS_FLAG_INVALID', `${flag}: unknown value "${item}".`, {
        hint: `Use one or more of: ${allowed.join(', ')}.`,
      });
    }
  }
  if (items.length === 0)
    throw new ConfigError('TRIALS_FLAG_INVALID', `${flag} is empty.`, {
      hint: `Use one or more of: ${allowed.join(', ')}.`,
    });
  return items as T[];
}
