/**
 * `stillpoint demo` (= `npm run demo`): three SQLite databases, three nodes, the bank workload, several
 * consistent backups under load, each restored and checked, and a short report. Exit 1 if any check fails.
 */
import type { Command } from 'commander';
import type { DEMO_GROUPS as DemoGroups, DemoEvent, DemoGroupKind, DemoReport } from '../demo/demo.ts';

/** demo.ts's DEMO_GROUPS, restated (the type keeps them equal) so `--help` does not load the demo (issue 17). */
const DEMO_GROUPS: typeof DemoGroups = ['sqlite', 'postgres+mariadb'];
import { ConfigError } from '../../errors.ts';
import { describeEvent } from '../../orchestrator/events.ts';
import { action, createProgressDisplay, emit, emitEvent } from '../../cli/output.ts';

interface DemoFlags {
  group: string;
  dir?: string;
  keep?: boolean;
  artifacts?: string;
  backups: string;
  accounts: string;
  concurrency: string;
  interval: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('demo')
    .summary('run the whole story locally: nodes, load, backups under load, restores, checker')
    .description(
      'Show the whole story on this machine, no servers needed: three SQLite databases (bank_a, bank_b and ' +
        'the Coordinator), three `stillpoint node` processes, the bank workload through them, consistent ' +
        'backups under load through the real pause protocol, each restored into a fresh directory and proven ' +
        "by the recovery sweep and the checker. Prints each pause window, the workload's dip and the verdicts. " +
        'With --group postgres+mariadb the same story runs on throwaway PostgreSQL + MariaDB servers (PITR and ' +
        'logical backups; docs/try-postgres-mariadb.md does it by hand). ' +
        'Exit 1 if any backup, restore or check fails.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  npm run demo\n  npm run demo -- --group postgres+mariadb\n  stillpoint demo --backups 5 --dir ./demo-run\n  stillpoint demo --json > demo.ndjson',
    )
    .option(
      '--group <databases>',
      `the databases: ${DEMO_GROUPS.join(' or ')} (servers started and removed by the demo)`,
      'sqlite',
    )
    .option('--dir <dir>', 'work here and keep the files (default: a temp directory, removed afterwards)')
    .option(
      '--artifacts <url>',
      'store backups here: s3://bucket/prefix?endpoint=…, azblob://…, with ?compression=gzip&encryption=local|kms (sqlite group; default: a directory under --dir). Also STILLPOINT_DEMO_ARTIFACTS',
    )
    .option('--keep', 'keep the temp directory')
    .option('--backups <n>', 'backups to take under load', '3')
    .option('--accounts <n>', 'bank accounts', '100')
    .option('--concurrency <n>', 'concurrent workload clients', '8')
    .option('--interval <ms>', 'load before and between backups, ms', '1500')
    .option('--json', 'NDJSON events, the last line the report')
    .action(action((flags: DemoFlags) => demoCommand(flags)));
}

function int(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError('FLAG_INVALID', `${flag} must be an integer ≥ ${min}, not "${value}".`, {
      hint: `For example ${flag} ${Math.max(min, 3)}.`,
    });
  return n;
}

async function demoCommand(flags: DemoFlags): Promise<number> {
  const json = flags.json === true;
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!json) process.stderr.write(`stillpoint demo: ${signal}, stopping nodes…\n`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const display = await createProgressDisplay();
  const onEvent = (e: DemoEvent): void => {
    if (json) emitEvent({ ...e });
    else if (e.type === 'demo') display.line(`» ${e.step}${e.detail ? `: ${e.detail}` : ''}`);
    else if (e.type === 'workload')
      display.status(
        `  workload: ${e.committed} committed, ${e.failed} failed (${(e.elapsedMs / 1000).toFixed(0)} s)`,
      );
    else if (e.type === 'state' || e.type === 'window') display.line(describeEvent(e));
  };
  try {
    if (!(DEMO_GROUPS as readonly string[]).includes(flags.group)) {
      throw new ConfigError(
        'FLAG_INVALID',
        `--group must be one of ${DEMO_GROUPS.join(', ')}, not "${flags.group}".`,
        { hint: 'For example --group postgres+mariadb.' },
      );
    }
    const { runDemo } = await import('../demo/demo.ts');
    const artifacts = flags.artifacts ?? process.env.STILLPOINT_DEMO_ARTIFACTS;
    if (artifacts !== undefined && artifacts !== '' && flags.group !== 'sqlite') {
      throw new ConfigError('FLAG_INVALID', '--artifacts works with --group sqlite only.', {
        hint: 'The PostgreSQL/MariaDB demo archives WAL and binlogs into a local directory; drop --artifacts or use the sqlite group.',
      });
    }
    const report = await runDemo({
      group: flags.group as DemoGroupKind,
      ...(flags.dir === undefined ? {} : { dir: flags.dir }),
      keep: flags.keep === true,
      ...(artifacts === undefined || artifacts === '' ? {} : { artifacts }),
      backups: int(flags.backups, '--backups', 1),
      accounts: int(flags.accounts, '--accounts', 2),
      concurrency: int(flags.concurrency, '--concurrency', 1),
      intervalMs: int(flags.interval, '--interval', 0),
      signal: controller.signal,
      onEvent,
    });
    display.done();
    emit(json, { type: 'result', ...report }, () => renderDemo(report));
    return report.ok ? 0 : 1;
  } finally {
    display.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function renderDemo(r: DemoReport): string {
  const lines = ['', 'stillpoint demo — report', ''];
  lines.push('backup                          method    state     window   drain  attempts  restore check');
  for (const b of r.backups) {
    const check =
      b.state !== 'complete'
        ? '—'
        : b.checkOk
          ? `CHECKED, consistent (${b.transfersInRestore ?? 0} transfers)`
          : `FAILED (${b.violations} violations)`;
    lines.push(
      `${b.backupId.padEnd(32)}${b.method.padEnd(10)}${b.state.padEnd(10)}${`${b.windowMs ?? '-'} ms`.padStart(7)}${`${b.drainMs ?? '-'} ms`.padStart(8)}${String(b.attempts).padStart(10)}  ${check}`,
    );
    if (b.reason) lines.push(`  reason: ${b.reason}`);
  }
  const w = r.workload;
  lines.push('');
  lines.push(
    `workload: ${w.committed} transfers committed, ${w.failed} failed, ${w.throughput.toFixed(0)}/s overall`,
  );
  lines.push(
    `  dip: ${w.duringPausesTps ?? '-'}/s in seconds that held a pause vs ${w.outsidePausesTps ?? '-'}/s in the others; ` +
      `longest client wait on a pause ${w.pausedWaitMaxMs} ms`,
  );
  lines.push(
    `live databases: ${r.liveCheckOk ? 'consistent, every acknowledged transfer present' : 'VIOLATIONS'}`,
  );
  lines.push('');
  lines.push(r.ok ? 'verdict: every backup restored to a consistent state ✔' : 'verdict: FAILED ✘');
  return lines.join('\n');
}
