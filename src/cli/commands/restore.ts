/**
 * `stillpoint restore <backup-id>`: prints the restore plan (every time in UTC), verifies every
 * artifact's checksum, runs the `before` hooks, restores every member, runs the recovery sweep and the
 * checker on the restored group, runs the `after` hooks. `--dry-run` only prints the plan.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../errors.ts';
import type { RestoreTarget } from '../../engines/contract.ts';
import { redactSecrets } from '../../orchestrator/redact.ts';
import { runRestore, type RestoreReport } from '../../orchestrator/restore.ts';
import type { RestorePlan } from '../../orchestrator/restore-plan.ts';
import { action, emit, emitEvent } from '../output.ts';
import { openCatalogFrom, type CatalogFlags } from './catalog-option.ts';

interface RestoreFlags extends CatalogFlags {
  dryRun?: boolean;
  into?: string;
  target?: string[];
  force?: boolean;
  check: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('restore <backup-id>')
    .summary('restore a backup, then prove it with the recovery sweep and the checker')
    .description(
      'Restore every member of a complete backup, then prove it. Prints the plan per member (source, target, ' +
        'restore point, steps; times in UTC); verifies every checksum before anything is changed; runs the ' +
        'plan\'s `before` hooks; restores every member; runs the recovery sweep and the checker on the restored ' +
        'group; runs the `after` hooks. Without --into or --target each member goes to a new name next to its ' +
        'source, never over live data. Refuses non-empty targets without --force; safe to re-run after a crash. ' +
        'Exit 0 when the restored group passes the check, 1 otherwise, 2 for bad flags.',
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
    .option('--catalog <file>', 'catalog file (default: $STILLPOINT_CATALOG, else the --plan\'s catalog.path, else ./.stillpoint/catalog.db)')
    .option('--plan <file>', 'plan whose catalog to use')
    .option('--dry-run', 'print the restore plan only; change nothing')
    .option('--into <dir>', 'restore every file-based member (SQLite) into this directory')
    .option('--target <member=json>', 'engine-specific target for one member (repeatable; see below)', collect)
    .option('--force', 'overwrite non-empty targets (a file is replaced; a database or PITR directory is dropped first)')
    .option('--no-check', 'skip the recovery sweep and the checker')
    .option('--json', 'print progress events as NDJSON and the report as the last line')
    .action(action((id: string, flags: RestoreFlags) => restoreCommand(id, flags)));
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

async function restoreCommand(backupId: string, flags: RestoreFlags): Promise<number> {
  const json = flags.json === true;
  const catalog = openCatalogFrom(flags);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await runRestore(catalog, {
      backupId,
      ...(flags.into === undefined ? {} : { intoDir: flags.into }),
      targets: parseTargets(flags.target ?? []),
      force: flags.force === true,
      dryRun: flags.dryRun === true,
      check: flags.check,
      signal: controller.signal,
      onProgress: (e) => (json ? emitEvent({ ...e }) : process.stderr.write(`  ${e.step}${e.member ? ` ${e.member}` : ''}\n`)),
    });
    const shown = redactSecrets(report);
    emit(json, { type: 'result', ...shown }, () => renderReport(shown));
    return report.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    catalog.close();
  }
}

export function renderPlan(plan: RestorePlan): string {
  const lines = [`restore plan for ${plan.backupId} (group ${plan.group}, mode ${plan.mode})`];
  if (plan.window) lines.push(`  window (UTC): ${plan.window.pausedAtUtc} → ${plan.window.unpauseStartedAtUtc}, mid ${plan.window.midUtc}`);
  if (plan.hooks.before.length > 0) lines.push(`  before: ${plan.hooks.before.join(' && ')}`);
  for (const m of plan.members) {
    lines.push(`  ${m.member} (${m.engine}, namespaces ${m.namespaces.join(', ')})`);
    lines.push(`    source: ${m.source}`);
    lines.push(`    target: ${JSON.stringify(m.target)}`);
    lines.push(`    restore point: ${m.restorePointUtc}`);
    const failed = m.inspection.checks.filter((c) => !c.ok).map((c) => `; ${c.name} FAILED: ${c.detail}`).join('');
    lines.push(`    target state: ${m.inspection.state} (${m.inspection.detail}${failed})${m.inspection.hint ? ` — ${m.inspection.hint}` : ''}`);
    for (const s of m.steps) lines.push(`    ${s.destructive ? '!' : '-'} ${s.title}${s.detail ? ` [${s.detail}]` : ''}`);
  }
  if (plan.hooks.after.length > 0) lines.push(`  after: ${plan.hooks.after.join(' && ')}`);
  return lines.join('\n');
}

function renderReport(r: RestoreReport): string {
  const lines = [renderPlan(r.plan)];
  if (r.dryRun) {
    lines.push('dry run: nothing was changed (steps marked ! are destructive).');
    if (!r.ok) lines.push('the restore would be refused: see the target states above.');
    return lines.join('\n');
  }
  lines.push(`checksums: ${r.checksums.length} verified`);
  for (const m of r.restored) lines.push(`restored ${m.member} → ${JSON.stringify(m.connection)}`);
  if (r.check) {
    const sweep = r.check.stats.sweep;
    if (sweep) lines.push(`sweep: ${sweep.rolledForward} rolled forward, ${sweep.rolledBack} rolled back, ${sweep.abortedExpired} aborted, ${sweep.unresolved} unresolved`);
    lines.push(`check: ${r.check.ok ? 'OK' : `FAILED (${r.check.stats.violationsTotal} violations)`}`);
    for (const v of r.check.violations.slice(0, 10)) lines.push(`  ${v.kind}: ${v.detail}`);
  } else {
    lines.push(`check: skipped (${r.checkSkipped ?? ''})`);
  }
  return lines.join('\n');
}
