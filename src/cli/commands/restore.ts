/**
 * `stillpoint restore <backup-id>`: prints the restore plan (every time in UTC), verifies every
 * artifact's checksum, runs the `before` hooks, restores every member, runs the recovery sweep and the
 * checker on the restored group, runs the `after` hooks. `--dry-run` only prints the plan.
 * Exit codes: 0 restored and proven, 1 the check found violations (or a restore error), 2 bad input,
 * 3 restored but NOT checked (`restored-unchecked`).
 */
import type { Command } from 'commander';
import { ConfigError, exitCodeFor } from '../../errors.ts';
import type { RestoreTarget } from '../../engines/contract.ts';
import { redactSecrets } from '../../redact.ts';
import type { RestoreReport, RestoreState } from '../../orchestrator/restore.ts';
import type { RestorePlan } from '../../orchestrator/restore-plan.ts';
import type { InvariantPlugins } from '../../checker/invariants.ts';
import type { CliComposition } from '../composition.ts';
import { resolveInvariants } from '../invariant-plugins.ts';
import { action, createProgressDisplay, emit, emitEvent } from '../output.ts';
import { TransferTracker } from '../transfer-progress.ts';
import { openCatalogFrom, type CatalogFlags } from './catalog-option.ts';

interface RestoreFlags extends CatalogFlags {
  dryRun?: boolean;
  into?: string;
  target?: string[];
  force?: boolean;
  overwriteSource?: boolean;
  check: boolean;
  invariants?: string[];
  json?: boolean;
}

/**
 * Exit code per end state: only a proven restore (or a dry run the real restore would go through) exits 0;
 * an unchecked one has its own code. A refused dry run exits with the refusal's code (2 for a target).
 */
export const RESTORE_EXIT_CODES: Readonly<Record<Exclude<RestoreState, 'refused'>, number>> = Object.freeze({
  restored: 0,
  'dry-run': 0,
  'check-failed': 1,
  failed: 1,
  'restored-unchecked': 3,
});

export function register(program: Command, composition: CliComposition): void {
  program
    .command('restore <backup-id>')
    .summary('restore a backup, then prove it with the recovery sweep and the checker')
    .description(
      'Restore every member of a complete backup, then prove it. Prints the plan per member (source, target, ' +
        'restore point, steps; times in UTC); verifies every checksum before anything is changed; runs the ' +
        "plan's `before` hooks; restores every member; runs the recovery sweep and the checker on the restored " +
        'group; runs the `after` hooks. Without --into or --target each member goes to a new name next to its ' +
        'source, never over live data. Refuses non-empty targets without --force; safe to re-run after a crash. ' +
        'Hooks and password sources come from --plan (required when the backup recorded hooks; never taken from ' +
        'the catalog). Exit 0 when the restored group passes the check, 1 otherwise, 2 for bad flags, 3 when ' +
        'the restore finished but was not checked (--no-check).',
    )
    .addHelpText(
      'after',
      '\nTargets (--target member=JSON):\n' +
        '  sqlite               {"path":"/srv/coord.db"}  (or --into DIR → DIR/<member>.db)\n' +
        '  postgres logical     {"host":…,"port":…,"user":…,"database":"bank_copy"}\n' +
        '  postgres pitr        {"dataDir":"/srv/pg-restored","port":5433}\n' +
        '  mariadb logical      {"rename":{"bank_b":"bank_b_copy"}} or {"inPlace":true}\n' +
        '  mariadb pitr         {"dir":"/srv/maria-restored","port":3307}\n' +
        '\nExamples:\n' +
        '  stillpoint backups list --plan plan.yaml\n' +
        '  stillpoint restore bk-20261130T001734Z-00de --plan plan.yaml --dry-run\n' +
        '  stillpoint restore bk-20261130T001734Z-00de --plan plan.yaml --into ./restored\n' +
        '  stillpoint restore bk-20261130T001734Z-00de --plan plan.yaml --target \'coord={"path":"/srv/coord.db"}\'',
    )
    .option(
      '--catalog <file>',
      "catalog file (default: $STILLPOINT_CATALOG, else the --plan's catalog.path, else ./.stillpoint/catalog.db)",
    )
    .option('--plan <file>', 'the plan: its catalog, restore hooks, password sources and check.invariants')
    .option('--dry-run', 'print the restore plan only; change nothing')
    .option('--into <dir>', 'restore every file-based member (SQLite) into this directory')
    .option(
      '--target <member=json>',
      'engine-specific target for one member (repeatable; see below)',
      collect,
    )
    .option(
      '--force',
      'overwrite targets that hold data: an earlier finished restore, or anything this restore did not write (a file is replaced; a database or PITR directory is dropped first)',
    )
    .option(
      '--overwrite-source',
      "together with --force: allow a target that IS a member's live source database (its current data is lost)",
    )
    .option(
      '--no-check',
      'skip the recovery sweep and the checker (the restore then ends restored-unchecked, exit 3)',
    )
    .option(
      '--invariants <names>',
      "application invariants to check besides the core (bank; default: the plan's check.invariants, else none)",
      collect,
    )
    .option('--json', 'print progress events as NDJSON and the report as the last line')
    .action(
      action((id: string, flags: RestoreFlags) => restoreCommand(id, flags, composition.invariantPlugins)),
    );
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function parseTargets(list: readonly string[]): Record<string, RestoreTarget> {
  const out: Record<string, RestoreTarget> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    let value: unknown;
    try {
      value = eq > 0 ? JSON.parse(item.slice(eq + 1)) : undefined;
    } catch {
      value = undefined;
    }
    if (eq <= 0 || typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError('RESTORE_TARGET_INVALID', `--target "${item}" is not member=<JSON object>.`, {
        hint: 'Example: --target \'coord={"path":"/srv/coord.db"}\'.',
      });
    }
    out[item.slice(0, eq)] = value as RestoreTarget;
  }
  return out;
}

async function restoreCommand(
  backupId: string,
  flags: RestoreFlags,
  plugins: InvariantPlugins,
): Promise<number> {
  const json = flags.json === true;
  // Imported here, not at the top: `--help` must not load the engines and their drivers (issue 17).
  const [{ loadPlan }, { runRestore }] = await Promise.all([
    import('../../plan/load-plan.ts'),
    import('../../orchestrator/restore.ts'),
  ]);
  const plan = flags.plan === undefined ? undefined : loadPlan(flags.plan);
  const invariants = resolveInvariants(flags.invariants ?? plan?.checkInvariants, plugins);
  const targets = parseTargets(flags.target ?? []);
  const catalog = await openCatalogFrom(flags);
  const controller = new AbortController();
  // Progress on stderr: a live line of bytes, rate and ETA per member on a terminal, plain lines on a pipe.
  const display = json ? undefined : await createProgressDisplay(process.stderr);
  const transfers = new TransferTracker();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await runRestore(catalog, {
      backupId,
      ...(flags.into === undefined ? {} : { intoDir: flags.into }),
      targets,
      force: flags.force === true,
      allowSource: flags.overwriteSource === true,
      invariants,
      ...(plan === undefined ? {} : { plan }),
      dryRun: flags.dryRun === true,
      check: flags.check,
      signal: controller.signal,
      onProgress: (e) =>
        display === undefined
          ? emitEvent({ ...e })
          : display.line(`  ${e.step}${e.member ? ` ${e.member}` : ''}`),
      onTransfer: (p) => {
        if (display === undefined) return emitEvent({ type: 'transfer', backupId, ...p });
        transfers.update(p);
        display.status(`  ${transfers.line()}`);
      },
    });
    display?.done();
    const shown = redactSecrets(report);
    emit(json, { type: 'result', ...shown }, () => renderReport(shown));
    if (report.state === 'refused') return exitCodeFor(report.refusals[0]);
    return RESTORE_EXIT_CODES[report.state];
  } finally {
    display?.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    catalog.close();
  }
}

export function renderPlan(plan: RestorePlan): string {
  const lines = [`restore plan for ${plan.backupId} (group ${plan.group}, mode ${plan.mode})`];
  if (plan.window)
    lines.push(
      `  window (UTC): ${plan.window.pausedAtUtc} → ${plan.window.unpauseStartedAtUtc}, mid ${plan.window.midUtc}`,
    );
  if (plan.recordedHooks) {
    lines.push(`  hooks differ from the ones recorded with the backup; running the plan's:`);
    lines.push(
      `    recorded before: ${plan.recordedHooks.before.join(' && ') || '(none)'}; after: ${plan.recordedHooks.after.join(' && ') || '(none)'}`,
    );
    lines.push(
      `    plan     before: ${plan.hooks.before.join(' && ') || '(none)'}; after: ${plan.hooks.after.join(' && ') || '(none)'}`,
    );
  }
  if (plan.hooks.before.length > 0) lines.push(`  before: ${plan.hooks.before.join(' && ')}`);
  for (const m of plan.members) {
    lines.push(`  ${m.member} (${m.engine}, namespaces ${m.namespaces.join(', ')})`);
    lines.push(`    source: ${m.source}`);
    lines.push(`    target: ${JSON.stringify(m.target)}`);
    lines.push(`    restore point: ${m.restorePointUtc}`);
    lines.push(
      `    target state: ${m.inspection.state} (${m.inspection.detail})${m.inspection.hint ? ` — ${m.inspection.hint}` : ''}`,
    );
    for (const c of m.inspection.checks.filter((x) => !x.ok))
      lines.push(`    ✗ ${c.name}: ${c.detail}${c.hint ? ` — ${c.hint}` : ''}`);
    for (const s of m.steps)
      lines.push(`    ${s.destructive ? '!' : '-'} ${s.title}${s.detail ? ` [${s.detail}]` : ''}`);
  }
  if (plan.hooks.after.length > 0) lines.push(`  after: ${plan.hooks.after.join(' && ')}`);
  return lines.join('\n');
}

function renderReport(r: RestoreReport): string {
  const lines = [renderPlan(r.plan)];
  if (r.dryRun) {
    lines.push(`checksums: ${r.checksums.filter((c) => c.ok).length} of ${r.checksums.length} verified`);
    for (const e of r.refusals) lines.push(`REFUSED: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}`);
    lines.push(
      `dry run: nothing was changed (steps marked ! are destructive); the restore ${r.refusals.length === 0 ? 'would go ahead' : 'would be REFUSED'}.`,
    );
    return lines.join('\n');
  }
  lines.push(`checksums: ${r.checksums.length} verified`);
  for (const m of r.members)
    lines.push(
      `${m.member}: ${m.state}${m.ms === undefined ? '' : ` (${m.ms} ms)`}${m.error ? ` — ${m.error.message}` : ''}`,
    );
  for (const m of r.restored) lines.push(`restored ${m.member} → ${JSON.stringify(m.connection)}`);
  if (r.error) lines.push(`FAILED: ${r.error.message}${r.error.hint ? `\n  hint: ${r.error.hint}` : ''}`);
  if (r.check) {
    const sweep = r.check.stats.sweep;
    if (sweep)
      lines.push(
        `sweep: ${sweep.rolledForward} rolled forward, ${sweep.rolledBack} rolled back, ${sweep.abortedExpired} aborted, ${sweep.unresolved} unresolved`,
      );
    lines.push(`check: ${r.check.ok ? 'OK' : `FAILED (${r.check.stats.violationsTotal} violations)`}`);
    for (const v of r.check.violations.slice(0, 10)) lines.push(`  ${v.kind}: ${v.detail}`);
  } else if (r.state === 'restored-unchecked') {
    lines.push(`check: NOT RUN (${r.checkSkipped ?? ''}): restored-unchecked, this restore is not proven`);
  }
  lines.push(`state: ${r.state}`);
  return lines.join('\n');
}
