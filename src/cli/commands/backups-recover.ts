/**
 * `stillpoint backups recover`: what a crashed or lost orchestrator left, cleaned up without waiting for the
 * next backup (issue 11 rows 5–7). Classifies every backup whose heartbeat is stale (unpausing its recorded
 * targets, then `failed` with ORCHESTRATOR_DIED), then removes leftovers: partial writes in the stores, the
 * files of failed backups (their catalog rows stay), and the SQLite engine's temp copies.
 */
import type { Command } from 'commander';
import type { LeftoverReport, RemovedLeftover } from '../../catalog/leftovers.ts';
import type { BackupEvent } from '../../orchestrator/events.ts';
import type { RecoveredBackup } from '../../orchestrator/recovery.ts';
import { action, emit, emitEvent } from '../output.ts';
import { openCatalogFrom, type CatalogFlags } from './catalog-option.ts';

interface RecoverFlags extends CatalogFlags {
  json?: boolean;
  minAge?: string;
}

export function registerRecover(command: Command): void {
  command
    .summary('classify lost backups (stale heartbeat) and remove files crashes left')
    .description(
      'Classify every backup whose orchestrator is gone (its heartbeat is older than twice its pause lease plus ' +
        'a margin, whatever host it ran on): unpause its recorded targets (servers without a lease included), then ' +
        'mark it failed (ORCHESTRATOR_DIED). Then remove leftovers: partial writes in the artifact stores, the ' +
        "files of failed and invalid backups (their catalog entries stay), and the SQLite engine's temporary " +
        'copies in the system temp directory. Temp files younger than --min-age are kept: a running write may own ' +
        "them. Backups with a fresh heartbeat are never touched. With --plan, its clusters' TLS and tokens are used.",
    )
    .option(
      '--min-age <duration>',
      // The default is DEFAULT_LEFTOVER_MIN_AGE_MS (catalog/leftovers.ts), not imported: --help stays light.
      'remove temp files only when older than this (default 10m)',
    )
    .action(action(async (flags: RecoverFlags) => recover(flags)));
}

async function recover(flags: RecoverFlags): Promise<number> {
  const json = flags.json === true;
  const [{ DEFAULT_LEFTOVER_MIN_AGE_MS, removeLeftovers }, { parseAge }, { resumeIncomplete }, { loadPlan }] =
    await Promise.all([
      import('../../catalog/leftovers.ts'),
      import('../../catalog/retention.ts'),
      import('../../orchestrator/recovery.ts'),
      import('../../plan/load-plan.ts'),
    ]);
  const minAgeMs =
    flags.minAge === undefined ? DEFAULT_LEFTOVER_MIN_AGE_MS : parseAge(flags.minAge, '--min-age');
  const plan = flags.plan === undefined ? undefined : loadPlan(flags.plan);
  const catalog = await openCatalogFrom(flags);
  try {
    const onEvent = (e: BackupEvent): void => {
      if (json) emitEvent({ ...e });
    };
    const recovered = await resumeIncomplete(catalog, { ...(plan ? { plan } : {}), onEvent });
    if (!json) for (const r of recovered) process.stdout.write(`${describeRecovered(r)}\n`);
    const onRemoved = (item: RemovedLeftover): void => {
      if (json) emitEvent({ type: 'leftover-removed', ...item });
      else process.stdout.write(`removed ${describeLeftover(item)}\n`);
    };
    const leftovers = await removeLeftovers(catalog, {
      ...(plan ? { stores: [plan.artifactsDir] } : {}),
      minAgeMs,
      onRemoved,
    });
    const stillIncomplete = catalog.incomplete().map((b) => ({ backupId: b.id, state: b.state }));
    emit(json, { type: 'result', recovered, leftovers, running: stillIncomplete }, () =>
      renderSummary(recovered, leftovers, stillIncomplete),
    );
    return recovered.every((r) => r.unpaused) ? 0 : 1;
  } finally {
    catalog.close();
  }
}

function describeRecovered(r: RecoveredBackup): string {
  const targets =
    r.targets.length === 0
      ? 'no targets to unpause'
      : `${r.targets.filter((t) => t.ok).length}/${r.targets.length} target(s) unpaused`;
  const skipped =
    r.skippedTargets.length === 0 ? '' : `, ${r.skippedTargets.length} left to the live backup holding them`;
  return `classified ${r.backupId} (left in ${r.previousState}) as failed: ${targets}${skipped}`;
}

function describeLeftover(item: RemovedLeftover): string {
  const kind = {
    'partial-write': 'partial write',
    'failed-backup-file': `file of failed backup ${item.backupId ?? ''}`,
    'temp-copy': 'temp copy',
  }[item.kind];
  return `${kind} ${item.name} in ${item.where} (${item.bytes} B)`;
}

function renderSummary(
  recovered: readonly RecoveredBackup[],
  leftovers: LeftoverReport,
  running: readonly { backupId: string; state: string }[],
): string {
  const lines = [
    `recover: ${recovered.length} lost backup(s) classified failed; ${leftovers.removed.length} leftover file(s) removed (${leftovers.bytesFreed} B freed)`,
  ];
  for (const k of leftovers.kept) lines.push(`  kept ${k.kind} ${k.name} in ${k.where}: ${k.reason}`);
  for (const r of running) lines.push(`  still running (fresh heartbeat): ${r.backupId} in ${r.state}`);
  if (recovered.some((r) => !r.unpaused))
    lines.push(
      '  some targets did not confirm the unpause: check them with `stillpoint check-paused` and run `stillpoint unpause` on any still paused',
    );
  return lines.join('\n');
}
