/**
 * `stillpoint check --config group.yaml [--sweep] [--json]`: the consistency checker over a group of databases.
 * Exit 0 when every invariant holds, 1 with one line per violation otherwise (2 for a bad config).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseDuration } from '../../duration.ts';
import type { CheckReport } from '../../checker/check.ts';
import { ConfigError } from '../../errors.ts';
import type { CliComposition } from '../composition.ts';
import { resolveInvariants } from '../invariant-plugins.ts';
import { action, emit } from '../output.ts';

interface CheckFlags {
  config: string;
  sweep?: boolean;
  expiryMs?: string;
  acknowledged?: string;
  invariants?: string[];
  json?: boolean;
}

export function register(program: Command, composition: CliComposition): void {
  program
    .command('check')
    .summary('check the consistency of a group of databases (live or restored)')
    .description(
      'Check a group of databases (live or restored) by reading its raw records: every mapped namespace holds ' +
        'tables, no COMMITTED record of an ABORTED transaction, and (with --sweep, which first resolves every ' +
        'unfinished record as a reader would) no PREPARED/DELETED record left. Application invariants come from ' +
        'a plug-in named by --invariants (bank: total balance conserved, every transfer in both bank namespaces ' +
        'or in neither). Exit 0 when consistent, 1 with one line per violation otherwise, 2 for a bad config. ' +
        'The group config format is in src/config/group-config.ts.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  stillpoint check --config group.yaml --invariants bank\n' +
        '  stillpoint check --config restored.yaml --sweep --expiry-ms 0\n' +
        '  stillpoint check --config group.yaml --acknowledged acked.txt --json',
    )
    .requiredOption(
      '--config <file>',
      'group config YAML (storages + namespaces), or a node config with a group: key',
    )
    .option(
      '--sweep',
      'run the recovery sweep first (WRITES: rolls unfinished records forward or back, as a reader would)',
    )
    .option(
      '--expiry-ms <ms>',
      'sweep: abort undecided transactions older than this (default 15000; 0 for a restored group)',
    )
    .option(
      '--invariants <names>',
      'application invariants to check besides the core (bank; comma-separated; default none)',
      collect,
    )
    .option(
      '--acknowledged <file>',
      'bank: a file of transfer ids (one per line, or the workload --json report) that must be present',
    )
    .option('--json', 'print the report as JSON')
    .action(
      action(async (flags: CheckFlags) => {
        const invariants = resolveInvariants(flags.invariants, composition.invariantPlugins);
        const [{ loadGroupConfig }, { checkGroup }] = await Promise.all([
          import('../../config/group-config.ts'),
          import('../../checker/check.ts'),
        ]);
        const group = await loadGroupConfig(flags.config);
        const acknowledged =
          flags.acknowledged === undefined ? undefined : await readAcknowledged(flags.acknowledged);
        const report = await checkGroup(group, {
          sweep: flags.sweep === true,
          invariants,
          ...(flags.expiryMs === undefined ? {} : { expiryMs: parseDuration(flags.expiryMs, '--expiry-ms') }),
          ...(acknowledged === undefined ? {} : { acknowledged }),
        });
        emit(flags.json === true, report, () => renderCheck(report));
        return report.ok ? 0 : 1;
      }),
    );
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Human rendering of a check report. */
export function renderCheck(report: CheckReport): string {
  const s = report.stats;
  const figure = (key: string): string => (typeof s[key] === 'number' ? String(s[key]) : '?');
  const bank =
    typeof s.accounts === 'number'
      ? `${figure('accounts')} accounts, total ${figure('totalBalance')}${s.expectedTotal === undefined ? '' : ` (expected ${figure('expectedTotal')})`}, ${figure('transfers')} transfers, `
      : '';
  const lines = [
    `${report.ok ? 'check ok' : `check FAILED: ${s.violationsTotal} violation(s)`} — ${bank}${s.records} records, ${s.unfinished} unfinished, ` +
      `invariants: core${s.invariants.map((n) => ` + ${n}`).join('')}, ${s.elapsedMs} ms`,
  ];
  if (s.sweep)
    lines.push(
      `sweep: scanned ${s.sweep.scanned}, rolled forward ${s.sweep.rolledForward}, rolled back ${s.sweep.rolledBack}, aborted expired ${s.sweep.abortedExpired}, unresolved ${s.sweep.unresolved}`,
    );
  for (const v of report.violations)
    lines.push(
      `  ${v.kind}: ${v.detail}${v.namespace === undefined ? '' : ` [${v.namespace}${v.table === undefined ? '' : `.${v.table}`}${v.key === undefined ? '' : ` key ${v.key}`}]`}`,
    );
  if (report.violations.length < s.violationsTotal)
    lines.push(`  … ${s.violationsTotal - report.violations.length} more (use --json)`);
  return lines.join('\n');
}

async function readAcknowledged(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read ${path}.`, {
      hint: 'Check the path given to --acknowledged.',
      cause,
    });
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const parsed = JSON.parse(trimmed) as { acknowledged?: unknown };
    if (Array.isArray(parsed.acknowledged)) return parsed.acknowledged.map(String);
  }
  return trimmed.split(/\s+/).filter((l) => l !== '');
}
