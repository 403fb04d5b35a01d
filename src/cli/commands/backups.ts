/**
 * `stillpoint backups list | show <id> | verify <id> | delete <id> | prune | recover | sync`: the catalog, read and
 * kept. Retention is group-aware: an artifact shared by several backups (base backups, WAL/binlogs under
 * `shared/`) is deleted only when no retained backup references it. `recover` is ./backups-recover.ts, `sync` ./backups-sync.ts.
 */
import type { Command } from 'commander';
import { BACKUP_STATES, type BackupState } from '../../catalog/catalog-schema.ts';
import type { BackupFilter, BackupRecord, Catalog } from '../../catalog/catalog.ts';
import type { RestoreDrillResult } from '../../catalog/verify-backup.ts';
import type { CliComposition } from '../composition.ts';
import type { InvariantPlugins } from '../../checker/invariants.ts';
import { ConfigError } from '../../errors.ts';
import { action, emit } from '../output.ts';
import { registerRecover } from './backups-recover.ts';
import { registerSync } from './backups-sync.ts';
import { openCatalogFrom, type CatalogFlags } from './catalog-option.ts';

interface Flags extends CatalogFlags {
  json?: boolean;
}

interface VerifyFlags extends Flags {
  level?: string;
  into?: string;
}

interface ListFlags extends Flags {
  state?: string;
  group?: string;
}

interface PruneFlags extends Flags {
  keepLast?: string;
  keepWithin?: string;
  dryRun?: boolean;
  allowEmpty?: boolean;
}

export function register(program: Command, composition?: CliComposition): void {
  const backups = program
    .command('backups')
    .summary('list, show, verify, delete and prune backups in the catalog')
    .description(
      'List, inspect, verify, delete and prune the backups in a catalog. The catalog is --catalog, else ' +
        "$STILLPOINT_CATALOG, else the --plan's catalog.path, else ./.stillpoint/catalog.db. Retention is " +
        'group-aware: files shared by several backups (base backups, archived WAL and binlogs) are deleted ' +
        'only when no remaining backup needs them.',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  stillpoint backups list --plan plan.yaml\n' +
        '  stillpoint backups list --state complete --group bank --json --plan plan.yaml\n' +
        '  stillpoint backups show bk-20261130T001734Z-00de --plan plan.yaml\n' +
        '  stillpoint backups verify bk-20261130T001734Z-00de --plan plan.yaml\n' +
        '  stillpoint backups prune --keep-last 7 --keep-within 14d --dry-run --plan plan.yaml\n' +
        '  stillpoint backups recover --plan plan.yaml',
    );
  const common = (c: Command): Command =>
    c
      .option(
        '--catalog <file>',
        'catalog file (default: $STILLPOINT_CATALOG, else ./.stillpoint/catalog.db)',
      )
      .option('--plan <file>', 'use the catalog named in this plan')
      .option('--json', 'print one JSON document');
  common(
    backups
      .command('list')
      .summary('every backup with state, window and size')
      .description(
        'Every backup, oldest first: id, state, mode, pause window length, bytes, window mid-time (UTC), and the reason of an invalid or failed one.',
      )
      .option('--state <state>', `only backups in this state (${BACKUP_STATES.join(', ')})`)
      .option('--group <group>', 'only backups of this group'),
  ).action(action(async (flags: ListFlags) => list(flags)));
  common(
    backups
      .command('show <id>')
      .summary('one backup in detail: window, members, handles, artifacts')
      .description(
        "One backup: state and reason, window (UTC) and drain time, paused targets and their lease, each member's state and restore handle, every artifact with its sha256, and the number of catalog events logged for this backup.",
      ),
  ).action(action(async (id: string, flags: Flags) => show(id, flags)));
  common(
    backups
      .command('verify <id>')
      .summary('check hash chain, record and every artifact checksum')
      .description(
        "Check that a backup is still what the catalog says: the hash chain over every event of the catalog (all backups; it detects accidental corruption, not tampering), the backup's record against its logged events, and every artifact's sha256 and size (--level files: only that each is present with its size). Exit 1 on any problem.",
      )
      .option(
        '--level <level>',
        'files (each object present with its size), checksums (every byte read and checked, decrypting) or restore (checksums, then a restore drill into scratch targets with the sweep and the checker, recorded on the backup)',
        'checksums',
      )
      .option(
        '--into <dir>',
        'with --level restore: restore file-based members here (default: a temporary directory, removed after)',
      ),
  ).action(
    action(async (id: string, flags: VerifyFlags) => verify(id, flags, composition?.invariantPlugins ?? {})),
  );
  common(
    backups
      .command('delete <id>')
      .summary('delete a backup and the files no other backup needs')
      .description(
        'Delete a complete, failed or invalid backup: its catalog entry and every artifact no other backup needs (shared files still referenced are kept). A backup still in progress is refused (BACKUP_NOT_TERMINAL); if its orchestrator is gone, run `backups recover` first.',
      ),
  ).action(action(async (id: string, flags: Flags) => remove([id], flags)));
  common(
    backups
      .command('prune')
      .summary('delete backups outside a retention policy')
      .description(
        'Delete every backup outside the policy: keep the N newest complete backups and every backup newer than the period (give one or both). Backups in progress are always kept, and so is the newest complete backup of each group unless --allow-empty.',
      )
      .option('--keep-last <n>', 'keep the N newest complete backups')
      .option('--keep-within <duration>', 'keep every backup newer than this (30m, 12h, 7d, 2w)')
      .option(
        '--allow-empty',
        'let the policy delete the newest complete backup of a group too (a group may end with none)',
      )
      .option('--dry-run', 'show what would be deleted; delete nothing'),
  ).action(action(async (flags: PruneFlags) => prune(flags)));
  registerRecover(common(backups.command('recover')));
  registerSync(common(backups.command('sync')));
}

async function withCatalog<T>(flags: Flags, fn: (catalog: Catalog) => Promise<T>): Promise<T> {
  const catalog = await openCatalogFrom(flags);
  return fn(catalog).finally(() => catalog.close());
}

// The modules below pull in the engines and the artifact stores (SDKs): imported when a command runs, so
// `--help` stays fast (issue 17).
const retention = () => import('../../catalog/retention.ts');
const restorePlan = () => import('../../orchestrator/restore-plan.ts');
const verification = () => import('../../catalog/verify-backup.ts');
const drills = () => import('./backups-verify-restore.ts');

function summary(b: BackupRecord, drill: RestoreDrillResult | undefined) {
  const bytes = b.members.reduce((n, m) => n + (m.bytes ?? 0), 0);
  return {
    id: b.id,
    group: b.group,
    mode: b.mode,
    state: b.state,
    reason: b.reason,
    createdAt: b.createdAt,
    windowMs: b.window ? b.window.unpauseStartedAtMs - b.window.pausedAtMs : null,
    midUtc: b.window ? new Date(b.window.midMs).toISOString() : null,
    attempts: b.attempts,
    bytes,
    restoreDrill: drill ?? null,
  };
}

function describeDrill(d: RestoreDrillResult | undefined | null): string {
  if (d === undefined || d === null) return 'never';
  return `${d.ok ? 'PASSED' : 'FAILED'} ${d.at} (${d.state}, ${d.violations} violation(s), ${d.ms} ms${d.error ? `, ${d.error.code}` : ''})`;
}

async function list(flags: ListFlags): Promise<number> {
  if (flags.state !== undefined && !(BACKUP_STATES as readonly string[]).includes(flags.state)) {
    throw new ConfigError(
      'FLAG_INVALID',
      `--state must be one of ${BACKUP_STATES.join(', ')}, not "${flags.state}".`,
      {
        hint: 'For example --state complete.',
      },
    );
  }
  const filter: BackupFilter = {
    ...(flags.state === undefined ? {} : { state: flags.state as BackupState }),
    ...(flags.group === undefined ? {} : { group: flags.group }),
  };
  const { lastRestoreDrill } = await verification();
  return withCatalog(flags, (catalog) => {
    const rows = catalog.list(filter).map((b) => summary(b, lastRestoreDrill(catalog, b.id)));
    emit(flags.json === true, { backups: rows }, () =>
      rows.length === 0
        ? `no backups${flags.state || flags.group ? ' match the filter' : ''}`
        : rows
            .map(
              (r) =>
                `${r.id}  ${r.state.padEnd(9)} ${r.mode.padEnd(12)} ${`${r.windowMs ?? '-'} ms`.padStart(8)}  ${String(r.bytes).padStart(10)} B  mid ${r.midUtc ?? '-'}${r.restoreDrill ? `  drill ${r.restoreDrill.ok ? 'passed' : 'FAILED'} ${r.restoreDrill.at}` : ''}${r.reason ? `  (${r.reason})` : ''}`,
            )
            .join('\n'),
    );
    return Promise.resolve(0);
  });
}

async function show(id: string, flags: Flags): Promise<number> {
  const { describeConnection, describeHandle } = await restorePlan();
  const { lastRestoreDrill } = await verification();
  return withCatalog(flags, (catalog) => {
    const b = catalog.get(id);
    const events = catalog.events(id);
    const drill = lastRestoreDrill(catalog, id);
    emit(
      flags.json === true,
      {
        backup: b,
        events,
        restoreDrill: drill ?? null,
        counts: { backupEvents: events.length, artifacts: b.artifacts.length },
      },
      () => {
        const lines = [
          `${b.id}: ${b.state}${b.reason ? ` (${b.reason})` : ''}`,
          `  group ${b.group}, mode ${b.mode}, attempts ${b.attempts}, created ${b.createdAt}`,
        ];
        if (b.window) {
          lines.push(
            `  window (UTC): ${new Date(b.window.pausedAtMs).toISOString()} → ${new Date(b.window.unpauseStartedAtMs).toISOString()}, mid ${new Date(b.window.midMs).toISOString()}, drain ${b.drainMs ?? '-'} ms`,
          );
        }
        for (const t of b.targets)
          lines.push(
            `  cluster ${t.cluster}: ${t.targets.map((x) => x.label).join(', ')} (lease ${t.leaseMs} ms)`,
          );
        for (const m of b.members) {
          lines.push(
            `  member ${m.name} (${m.engine}, ${describeConnection(m.spec.connection)}): ${m.state}${m.error ? ` — ${m.error}` : ''}`,
          );
          if (m.handle) lines.push(`    restore point: ${describeHandle(m.handle)}`);
        }
        lines.push(`  last restore drill: ${describeDrill(drill)}`);
        for (const a of b.artifacts)
          lines.push(`  artifact ${a.key} ${a.bytes} B sha256 ${a.sha256}${a.shared ? ' (shared)' : ''}`);
        lines.push(
          `  ${b.artifacts.length} artifacts; ${events.length} catalog events logged for this backup (\`backups verify\` checks the hash chain and every artifact)`,
        );
        return lines.join('\n');
      },
    );
    return Promise.resolve(0);
  });
}

async function verify(id: string, flags: VerifyFlags, plugins: InvariantPlugins): Promise<number> {
  const level = flags.level ?? 'checksums';
  if (level !== 'files' && level !== 'checksums' && level !== 'restore') {
    throw new ConfigError('FLAG_INVALID', `--level must be files, checksums or restore, not "${level}".`, {
      hint: 'Use --level files, --level checksums or --level restore.',
    });
  }
  const { verifyBackup } = await verification();
  return withCatalog(flags, async (catalog) => {
    const checked = await verifyBackup(catalog, id, level === 'files' ? 'files' : 'checksums');
    // A drill only on a backup whose every byte checked out: a bad artifact is already the answer.
    const drill =
      level === 'restore' && checked.ok
        ? await (
            await drills()
          ).runRestoreDrill(catalog, id, flags, plugins, (step) =>
            flags.json === true ? undefined : process.stderr.write(`  drill: ${step}\n`),
          )
        : undefined;
    const r =
      level === 'restore'
        ? { ...checked, restoreDrill: drill ?? null, ok: checked.ok && drill?.ok === true }
        : checked;
    // Logged, so the dashboard and the metrics show the last verification (and RPO counts only backups
    // whose last check passed).
    catalog.note(id, 'verified', { ok: r.ok, level, counts: r.counts });
    emit(flags.json === true, r, () => {
      const lines = [`${r.backupId}: ${r.ok ? 'OK' : 'PROBLEMS FOUND'}`];
      lines.push(
        `  catalog hash chain: ${r.chain.ok ? 'intact' : `BROKEN at event ${r.chain.brokenAtSeq ?? '?'}`} (${r.chain.checked} catalog events checked, every backup's)`,
      );
      lines.push(
        `  backup record vs its logged events: ${r.recordProblems.length === 0 ? 'consistent' : `${r.recordProblems.length} problem(s)`}`,
      );
      for (const p of r.recordProblems) lines.push(`    record: ${p}`);
      const bad = r.artifacts.filter((a) => !a.ok).length;
      lines.push(
        `  artifacts: ${r.artifacts.length} checked (${level === 'files' ? 'present with their size' : 'sha256 and size'}), ${bad === 0 ? 'all ok' : `${bad} BAD`}`,
      );
      for (const a of r.artifacts) lines.push(`    ${a.ok ? 'ok     ' : 'BAD    '} ${a.key} (${a.bytes} B)`);
      if (level === 'restore')
        lines.push(
          drill === undefined
            ? '  restore drill: not run (the checks above failed)'
            : `  restore drill: ${describeDrill(drill)}${drill.error ? ` — ${drill.error.message}` : ''}`,
        );
      return lines.join('\n');
    });
    return r.ok ? 0 : 1;
  });
}

async function remove(ids: readonly string[], flags: Flags): Promise<number> {
  const { deleteBackups } = await retention();
  return withCatalog(flags, async (catalog) => {
    const out = await deleteBackups(catalog, ids);
    emit(flags.json === true, { deleted: out }, () =>
      out
        .map(
          (o) =>
            `deleted ${o.backupId}: ${o.removedKeys.length} file(s) removed${o.keptShared.length ? `, ${o.keptShared.length} shared file(s) kept for other backups` : ''}`,
        )
        .join('\n'),
    );
    return 0;
  });
}

async function prune(flags: PruneFlags): Promise<number> {
  const { deleteBackups, parseAge, planPrune } = await retention();
  const keepLast = flags.keepLast === undefined ? undefined : Number(flags.keepLast);
  if (keepLast !== undefined && (!Number.isInteger(keepLast) || keepLast < 0)) {
    throw new ConfigError(
      'FLAG_INVALID',
      `--keep-last must be a non-negative integer, not "${flags.keepLast}".`,
      { hint: 'For example --keep-last 7.' },
    );
  }
  const policy = {
    ...(keepLast === undefined ? {} : { keepLast }),
    ...(flags.keepWithin === undefined ? {} : { keepWithinMs: parseAge(flags.keepWithin, '--keep-within') }),
    allowEmpty: flags.allowEmpty === true,
  };
  return withCatalog(flags, async (catalog) => {
    const decision = planPrune(catalog.list(), policy);
    if (flags.dryRun === true) {
      emit(
        flags.json === true,
        { dryRun: true, ...decision },
        () =>
          `would delete ${decision.remove.length}: ${decision.remove.join(', ') || '(none)'}; keep ${decision.keep.length}${floorNote(decision.keptAsNewestComplete)}`,
      );
      return 0;
    }
    const out = await deleteBackups(catalog, decision.remove);
    emit(
      flags.json === true,
      { keep: decision.keep, keptAsNewestComplete: decision.keptAsNewestComplete, deleted: out },
      () =>
        `deleted ${out.length} backup(s), kept ${decision.keep.length}${floorNote(decision.keptAsNewestComplete)}`,
    );
    return 0;
  });
}

function floorNote(ids: readonly string[]): string {
  return ids.length === 0
    ? ''
    : ` (${ids.join(', ')} kept as the newest complete backup of its group; --allow-empty to delete it)`;
}
