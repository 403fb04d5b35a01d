/**
 * `stillpoint backup --plan plan.yaml [--json]`: takes one consistent backup of the plan's group.
 * First classifies backups left behind by a dead orchestrator (unpausing their targets), then runs the
 * state machine. SIGINT/SIGTERM abort the backup; the orchestrator unpauses before this process exits.
 */
import type { Command } from 'commander';
import type { Catalog } from '../../catalog/catalog.ts';
import type { RestoreHandle } from '../../engines/contract.ts';
import type { BackupResult } from '../../orchestrator/backup.ts';
import { describeEvent, type BackupEvent } from '../../orchestrator/events.ts';
import { action, createProgressDisplay, emit, emitEvent } from '../output.ts';
import { TransferTracker } from '../transfer-progress.ts';

interface BackupFlags {
  plan: string;
  catalog?: string;
  json?: boolean;
  metricsFile?: string;
}

export function register(program: Command): void {
  program
    .command('backup')
    .summary('take one consistent backup of every database of a plan')
    .description(
      'Take a transactionally-consistent backup of every member of a consistency group: preflight, pause ' +
        'every cluster (all-or-nothing, leased), capture every member, validate the window, unpause (always), ' +
        'copy and checksum, and record it in the catalog. Backups left behind by a dead orchestrator are ' +
        'unpaused and marked failed first. Ctrl-C unpauses, then records the backup failed (ABORTED). ' +
        'Exit 0 when the backup is complete, 1 when it is invalid or failed, 2 for a bad plan, 4 when an unpause ' +
        'was not confirmed (targets may still be paused: the reason says how to unpause them). ' +
        'The plan format is in docs/backup-and-restore.md.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  stillpoint backup --plan plan.yaml\n  stillpoint backup --plan plan.yaml --json | tail -n 1',
    )
    .requiredOption('--plan <file>', 'plan YAML (clusters to pause, member databases, artifacts, catalog)')
    .option('--catalog <file>', "catalog file (default: STILLPOINT_CATALOG, else the plan's catalog.path)")
    .option('--json', 'print NDJSON events, the last line being {"type":"result",…}')
    .option(
      '--metrics-file <file>',
      "after the backup, write the catalog's Prometheus metrics here (node_exporter textfile collector; docs/operating.md)",
    )
    .action(action((flags: BackupFlags) => backupCommand(flags)));
}

async function backupCommand(flags: BackupFlags): Promise<number> {
  const json = flags.json === true;
  // Loaded here, not at the top: `--help` must not pay for the engines, drivers and SDKs (issue 17).
  const [{ loadPlan }, { openCatalog }, { runBackup }, { resumeIncomplete }, { describeHandle }] =
    await Promise.all([
      import('../../plan/load-plan.ts'),
      import('../../catalog/catalog.ts'),
      import('../../orchestrator/backup.ts'),
      import('../../orchestrator/recovery.ts'),
      import('../../orchestrator/restore-plan.ts'),
    ]);
  const plan = loadPlan(flags.plan);
  const catalog = openCatalog(flags.catalog ?? process.env.STILLPOINT_CATALOG ?? plan.catalogPath);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!json) process.stderr.write(`stillpoint: ${signal} received, unpausing and stopping…\n`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Progress on stderr: on a terminal a live line (bytes, rate, ETA per member) under the event lines; on a
  // pipe plain lines only, the transfer line at most every 5 s. With --json every event is one NDJSON line.
  const display = json ? undefined : await createProgressDisplay(process.stderr);
  const transfers = new TransferTracker();
  const onEvent = (e: BackupEvent): void => {
    if (display === undefined) emitEvent({ ...e });
    else if (e.type === 'transfer') {
      transfers.update(e);
      display.status(`${PROGRESS_LABEL}${transfers.line()}`);
    } else display.line(`${PROGRESS_LABEL}${describeEvent(progressOnly(e)).trimStart()}`);
  };
  try {
    const recovered = await resumeIncomplete(catalog, { plan, onEvent });
    for (const r of recovered)
      onEvent({
        type: 'log',
        backupId: r.backupId,
        level: 'warn',
        message: `classified ${r.backupId} (left in ${r.previousState}) as failed`,
      });
    const result = await runBackup({ plan, catalog, signal: controller.signal, onEvent });
    display?.done();
    if (flags.metricsFile !== undefined) await writeMetrics(flags.metricsFile, catalog);
    emit(json, { type: 'result', ...result }, () => renderResult(result, describeHandle));
    if (result.state === 'complete') return 0;
    return result.reason?.startsWith('UNPAUSE_FAILED:') ? 4 : 1; // targets may still be paused: act now (see the reason)
  } finally {
    display?.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    catalog.close();
  }
}

/** The textfile for a CronJob's run: the same metrics `serve` gives on /metrics, from the catalog. */
async function writeMetrics(path: string, catalog: Catalog): Promise<void> {
  const [{ snapshot }, { buildRegistry, writeMetricsFile }] = await Promise.all([
    import('../../catalog/catalog-view.ts'),
    import('../../metrics/catalog-metrics.ts'),
  ]);
  await writeMetricsFile(path, buildRegistry(snapshot(catalog)));
}

/** Progress goes to stderr, labelled, so it is told apart from the result on stdout and from other tools' lines. */
const PROGRESS_LABEL = 'stillpoint backup: ';

/**
 * An event without the failure text the result prints anyway: the reason of a failed backup used to appear
 * in the member's progress line, the state line and the result — the same connection error three times.
 */
export function progressOnly(e: BackupEvent): BackupEvent {
  if (e.type === 'state' && e.reason !== undefined && e.state !== 'complete') {
    const { reason: _reason, ...rest } = e;
    return rest;
  }
  if (e.type === 'member' && e.error !== undefined) {
    return { ...e, error: 'failed (see the result)' };
  }
  return e;
}

export function renderResult(r: BackupResult, describeHandle: (handle: RestoreHandle) => string): string {
  const lines = [`backup ${r.backupId}: ${r.state.toUpperCase()} (mode ${r.mode}, ${r.attempts} attempt(s))`];
  if (r.reason) lines.push(`  reason: ${r.reason}`);
  if (r.hint) lines.push(`  hint: ${r.hint}`);
  if (r.window) {
    lines.push(
      `  window: ${new Date(r.window.pausedAtMs).toISOString()} → ${new Date(r.window.unpauseStartedAtMs).toISOString()} ` +
        `(${r.window.unpauseStartedAtMs - r.window.pausedAtMs} ms, drain ${r.drainMs ?? 0} ms)`,
    );
  }
  for (const m of r.members) {
    // A member's error already quoted in the reason is not repeated.
    const error = m.error && !(r.reason ?? '').includes(m.error) ? ` — ${m.error}` : '';
    lines.push(
      `  ${m.name} (${m.engine}): ${m.state}${m.captureMs !== null ? `, capture ${m.captureMs.toFixed(1)} ms` : ''}${m.bytes !== null ? `, ${m.bytes} bytes` : ''}${error}`,
    );
    if (m.handle) lines.push(`    restore point: ${describeHandle(m.handle)}`);
  }
  return lines.join('\n');
}
